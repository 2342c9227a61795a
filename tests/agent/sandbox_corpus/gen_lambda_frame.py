# expect: forbidden
def execute_command(video, question, choices):
    f = lambda: 1
    return f.__closure__
