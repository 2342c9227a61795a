# expect: size_limit
def execute_command(video, question, choices):
    return f'{1.5:.999999999f}'
