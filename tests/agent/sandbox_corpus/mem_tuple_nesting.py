# expect: size_limit
# hashing a tuple nested ~150k deep segfaults CPython
def execute_command(video, question, choices):
    t = ()
    for i in range(100000):
        t = (t,)
    return {t}
