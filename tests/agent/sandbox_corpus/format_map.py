# expect: forbidden
def execute_command(video, question, choices):
    return '{x}'.format_map({'x': 1})
