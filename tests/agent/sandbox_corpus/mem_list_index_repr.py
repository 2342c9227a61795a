# expect: size_limit
# a miss in list.index puts repr(value) into the error message, in C
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    return choices.index([s] * 10 ** 6)
