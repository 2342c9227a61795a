# expect: runtime
def execute_command(video, question, choices):
    gen = (c for c in choices)
    return gen.send(None)
