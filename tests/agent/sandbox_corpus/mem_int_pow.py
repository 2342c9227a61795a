# expect: size_limit
def execute_command(video, question, choices):
    return 2 ** 10 ** 9
