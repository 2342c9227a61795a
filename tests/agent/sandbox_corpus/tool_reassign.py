# expect: forbidden
def execute_command(video, question, choices):
    detect = lambda *args: []
    return detect(video)
