# expect: size_limit
def execute_command(video, question, choices):
    return 'a'.ljust(10 ** 10)
