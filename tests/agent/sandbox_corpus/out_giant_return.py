# expect: size_limit
# each string is within the size limit, the returned value is not
def execute_command(video, question, choices):
    s = 'a' * 999999
    return [s] * 1000
