# expect: size_limit
def execute_command(video, question, choices):
    try:
        x = [0] * 10 ** 10
    except Exception:
        return 'escaped'
