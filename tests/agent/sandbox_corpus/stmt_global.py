# expect: forbidden
counter = 0

def execute_command(video, question, choices):
    global counter
    counter = 1
