# expect: recursion
def down(n):
    return down(n + 1)

def execute_command(video, question, choices):
    return down(0)
