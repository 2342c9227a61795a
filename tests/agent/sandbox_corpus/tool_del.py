# expect: forbidden
def execute_command(video, question, choices):
    del detect
