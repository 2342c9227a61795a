# expect: runtime
# the error message is built safely and truncated
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    raise ValueError([s] * 10 ** 6)
