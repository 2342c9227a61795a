# expect: forbidden
def deco(f):
    return f

@deco
def execute_command(video, question, choices):
    return 1
