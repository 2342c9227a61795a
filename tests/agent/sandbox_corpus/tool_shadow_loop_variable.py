# expect: forbidden
def execute_command(video, question, choices):
    for detect in choices:
        pass
