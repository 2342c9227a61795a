# expect: forbidden
# attributes of the type objects themselves are not allowlisted
def execute_command(video, question, choices):
    return str.join("", choices)
