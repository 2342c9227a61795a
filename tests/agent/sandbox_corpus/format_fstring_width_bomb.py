# expect: size_limit
def execute_command(video, question, choices):
    width = 10 ** 10
    return f'{1:>{width}}'
