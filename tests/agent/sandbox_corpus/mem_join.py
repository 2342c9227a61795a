# expect: size_limit
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    return ('x' * 1000).join([s] * 1000)
