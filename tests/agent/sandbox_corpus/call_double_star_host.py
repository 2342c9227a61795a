# expect: runtime
# ** takes dicts only: a host object's items() is never called
def f(**kwargs):
    return kwargs

def execute_command(video, question, choices):
    return f(**video)
