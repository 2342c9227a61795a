# expect: forbidden
def execute_command(video, question, choices):
    choices.append = None
