# expect: forbidden
# a generator expression is opaque: its attributes (gi_frame, send) are not offered
def execute_command(video, question, choices):
    gen = (c for c in choices)
    return gen.send(None)
