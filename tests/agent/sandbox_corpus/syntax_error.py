# expect: syntax
def execute_command(video, question, choices):
    return (
