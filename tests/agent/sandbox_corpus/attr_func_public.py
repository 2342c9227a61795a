# expect: forbidden
# no dunder, but functions have no readable attributes at all
def helper():
    return 1

def execute_command(video, question, choices):
    return helper.name
