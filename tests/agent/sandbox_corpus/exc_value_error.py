# expect: runtime
def pick(choices):
    raise ValueError('no answer among ' + str(len(choices)) + ' choices')

def execute_command(video, question, choices):
    return pick(choices)
