# expect: forbidden
def execute_command(video, question, choices):
    method = choices.append
    return method.__self__
