# expect: op_limit
# a bare except must not catch the interpreter's own stop signal
def execute_command(video, question, choices):
    try:
        while True:
            pass
    except:
        return 'escaped'
