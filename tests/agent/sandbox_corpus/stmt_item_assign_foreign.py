# expect: forbidden
# item assignment only on lists and dicts, never on host objects
def execute_command(video, question, choices):
    video[0] = 1
