# expect: forbidden
def execute_command(video, question, choices):
    with question as q:
        return q
