# expect: forbidden
def execute_command(video, question, choices):
    return compile('1', 'x', 'eval')
