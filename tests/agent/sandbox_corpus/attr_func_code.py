# expect: forbidden
def helper():
    return 1

def execute_command(video, question, choices):
    return helper.__code__.co_consts
