# expect: size_limit
def execute_command(video, question, choices):
    return '%999999999d' % 1
