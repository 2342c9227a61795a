# expect: size_limit
def execute_command(video, question, choices):
    return '{:{}}'.format(1, '9' * 20)
