# expect: size_limit
def execute_command(video, question, choices):
    x = [0]
    while True:
        x = x + x
