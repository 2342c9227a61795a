# expect: forbidden
# the classic escape: walk from a tuple to object.__subclasses__()
def execute_command(video, question, choices):
    return ().__class__.__bases__[0].__subclasses__()
