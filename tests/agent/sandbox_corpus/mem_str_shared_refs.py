# expect: size_limit
# a million references to one megabyte string: small in memory, a terabyte as text
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    big = [s] * 10 ** 6
    return str(big)
