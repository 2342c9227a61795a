# expect: forbidden
def execute_command(video, question, choices):
    return '%*d' % (10 ** 9, 1)
