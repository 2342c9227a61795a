# expect: recursion
# recursion through a callback that C code (sorted) makes
def key(x):
    return sorted([x], key=key)

def execute_command(video, question, choices):
    return key(1)
