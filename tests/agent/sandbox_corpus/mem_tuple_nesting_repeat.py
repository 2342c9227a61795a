# expect: size_limit
# nesting reached through repetition: (t,) * n and [t] * n hold the same deep tuple n times
def execute_command(video, question, choices):
    t = ()
    for i in range(100000):
        t = (t,) * 2
    return len([t] * 3)
