# expect: recursion
def ping(n):
    return pong(n)

def pong(n):
    return ping(n)

def execute_command(video, question, choices):
    return ping(0)
