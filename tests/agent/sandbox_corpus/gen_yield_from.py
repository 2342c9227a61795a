# expect: forbidden
def frames():
    yield from [1]

def execute_command(video, question, choices):
    return list(frames())
