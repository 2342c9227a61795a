# expect: size_limit
def execute_command(video, question, choices):
    return ('a' * 1000).replace('', 'b' * 10000)
