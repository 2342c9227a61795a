# expect: forbidden
# str.format is a guarded wrapper; its own attributes are not reachable
def execute_command(video, question, choices):
    fmt = question.format
    return fmt.func
