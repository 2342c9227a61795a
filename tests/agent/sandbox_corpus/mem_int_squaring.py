# expect: size_limit
def execute_command(video, question, choices):
    x = 3
    while True:
        x = x * x
