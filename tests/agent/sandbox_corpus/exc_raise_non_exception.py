# expect: runtime
def execute_command(video, question, choices):
    raise 5
