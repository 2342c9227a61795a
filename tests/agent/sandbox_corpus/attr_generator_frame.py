# expect: forbidden
# a generator expression is an opaque iterator: there is no gi_frame to walk from
def execute_command(video, question, choices):
    gen = (c for c in choices)
    return gen.gi_frame.f_back.f_globals
