# expect: recursion
# lists nested 50,000 deep: CPython's repr is guarded, and the sandbox reports it
def execute_command(video, question, choices):
    x = []
    for i in range(50000):
        x = [x]
    return str(x)
