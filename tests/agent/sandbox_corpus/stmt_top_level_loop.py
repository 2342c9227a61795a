# expect: forbidden
while True:
    pass

def execute_command(video, question, choices):
    return 1
