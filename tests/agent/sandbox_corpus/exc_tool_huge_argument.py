# expect: runtime
# the tool raises with the program's terabyte-as-text list; messages stay bounded
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    return explode([s] * 10 ** 6)
