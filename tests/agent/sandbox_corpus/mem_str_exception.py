# expect: size_limit
# so are an exception's arguments
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    return str(ValueError([s] * 10 ** 6))
