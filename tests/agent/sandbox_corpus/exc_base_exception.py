# expect: forbidden
def execute_command(video, question, choices):
    try:
        while True:
            pass
    except BaseException:
        return 'escaped'
