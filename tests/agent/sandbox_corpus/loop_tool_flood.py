# expect: op_limit
def execute_command(video, question, choices):
    for i in range(100000):
        detect(video, 'cup', [i])
