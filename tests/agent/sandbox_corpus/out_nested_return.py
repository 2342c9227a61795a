# expect: size_limit
def execute_command(video, question, choices):
    x = []
    for i in range(50000):
        x = [x]
    return x
