# expect: op_limit
# return in finally would swallow an exception; it must not swallow a violation
def execute_command(video, question, choices):
    try:
        while True:
            pass
    finally:
        return 'escaped'
