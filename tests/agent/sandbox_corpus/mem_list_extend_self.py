# expect: size_limit
def execute_command(video, question, choices):
    x = [0]
    for i in range(100):
        x.extend(x)
