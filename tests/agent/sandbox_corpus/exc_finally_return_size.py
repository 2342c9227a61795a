# expect: size_limit
def execute_command(video, question, choices):
    try:
        x = 'a' * 10 ** 10
    finally:
        return 'escaped'
