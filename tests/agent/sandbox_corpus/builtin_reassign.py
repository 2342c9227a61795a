# expect: forbidden
def execute_command(video, question, choices):
    len = 3
    return len
