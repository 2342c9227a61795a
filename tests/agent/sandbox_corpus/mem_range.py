# expect: size_limit
def execute_command(video, question, choices):
    return list(range(10 ** 12))
