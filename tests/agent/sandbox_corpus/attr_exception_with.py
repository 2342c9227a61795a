# expect: forbidden
def execute_command(video, question, choices):
    try:
        1 / 0
    except ZeroDivisionError as e:
        return e.with_traceback(None)
