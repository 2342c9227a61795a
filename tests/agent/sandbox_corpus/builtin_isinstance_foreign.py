# expect: forbidden
# only the sandbox's own classes may be passed to isinstance
def execute_command(video, question, choices):
    return isinstance(question, detect)
