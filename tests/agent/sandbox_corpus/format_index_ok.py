# expect: ok
# item lookups in format fields are plain subscripts
def execute_command(video, question, choices):
    return '{0[0]} or {c[1]}'.format(choices, c=choices)
