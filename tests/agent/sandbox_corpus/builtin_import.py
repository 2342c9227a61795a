# expect: forbidden
def execute_command(video, question, choices):
    os = __import__('os')
    return os.system('echo pwned')
