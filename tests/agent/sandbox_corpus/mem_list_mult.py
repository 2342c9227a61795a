# expect: size_limit
def execute_command(video, question, choices):
    x = [0] * 10 ** 10
    return len(x)
