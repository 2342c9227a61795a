# expect: ok
# stdout is truncated, not fatal
def execute_command(video, question, choices):
    for i in range(100000):
        print('x' * 100)
    return 'done'
