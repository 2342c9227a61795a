# expect: runtime
def execute_command(video):
    return 1
