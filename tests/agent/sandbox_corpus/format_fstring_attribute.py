# expect: forbidden
def execute_command(video, question, choices):
    return f'{question.__class__}'
