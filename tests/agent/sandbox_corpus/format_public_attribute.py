# expect: forbidden
def execute_command(video, question, choices):
    return '{0.real}'.format(1)
