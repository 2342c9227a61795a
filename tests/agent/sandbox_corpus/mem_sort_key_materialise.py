# expect: size_limit
# the key callback builds a megabyte list per element
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    return sorted([s] * 1000, key=list)
