# expect: size_limit
def execute_command(video, question, choices):
    return '{:>99999999999}'.format(1)
