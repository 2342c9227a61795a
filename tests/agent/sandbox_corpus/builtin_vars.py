# expect: forbidden
def execute_command(video, question, choices):
    return vars()
