# expect: forbidden
def execute_command(video, question, choices):
    n = len(choices)
    return n.numerator
