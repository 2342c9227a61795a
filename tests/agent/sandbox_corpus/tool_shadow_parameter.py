# expect: forbidden
def execute_command(video, question, choices, detect=None):
    return detect
