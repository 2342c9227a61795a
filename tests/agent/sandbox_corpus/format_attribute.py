# expect: forbidden
def execute_command(video, question, choices):
    return '{0.__class__}'.format(1)
