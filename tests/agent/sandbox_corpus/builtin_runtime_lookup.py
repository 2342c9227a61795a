# expect: forbidden
# 'type' is bound somewhere, so only the run-time lookup can refuse it
def unused():
    type = 1
    return type

def execute_command(video, question, choices):
    return type(question)
