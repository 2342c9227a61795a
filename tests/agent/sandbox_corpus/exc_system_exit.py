# expect: forbidden
def execute_command(video, question, choices):
    raise SystemExit(0)
