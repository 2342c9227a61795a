# expect: op_limit
def execute_command(video, question, choices):
    while True:
        pass
