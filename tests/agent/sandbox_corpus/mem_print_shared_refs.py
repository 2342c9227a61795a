# expect: size_limit
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    print([s] * 10 ** 6)
