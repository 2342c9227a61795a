# expect: runtime
# sum() with a list start would concatenate quadratically
def execute_command(video, question, choices):
    return sum([[0] * 1000] * 1000, [])
