# expect: op_limit
# cheap iterations: the loop limit trips before the operation limit
def execute_command(video, question, choices):
    for a in range(1000):
        for b in range(1000):
            pass
