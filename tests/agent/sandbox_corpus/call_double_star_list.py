# expect: runtime
# as in Python: a TypeError, not an AttributeError from calling items() on the list
def f(**kwargs):
    return kwargs

def execute_command(video, question, choices):
    return f(**[1, 2, 3])
