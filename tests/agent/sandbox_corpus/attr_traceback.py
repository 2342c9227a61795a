# expect: forbidden
def execute_command(video, question, choices):
    try:
        1 / 0
    except ZeroDivisionError as e:
        return e.__traceback__.tb_frame.f_globals
