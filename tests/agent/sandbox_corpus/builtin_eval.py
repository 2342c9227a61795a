# expect: forbidden
def execute_command(video, question, choices):
    return eval('1 + 1')
