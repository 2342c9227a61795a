# expect: forbidden
def execute_command(video, question, choices):
    return bytearray(10 ** 9)
