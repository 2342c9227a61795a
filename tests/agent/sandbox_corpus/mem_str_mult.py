# expect: size_limit
def execute_command(video, question, choices):
    x = 'a' * 10 ** 10
    return len(x)
