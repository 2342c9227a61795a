# expect: recursion
def down(n):
    return down(n + 1)

def execute_command(video, question, choices):
    try:
        return down(0)
    except Exception:
        return 'escaped'
