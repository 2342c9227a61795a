# expect: size_limit
def execute_command(video, question, choices):
    d = {}
    for i in range(10000):
        d.update(zip(range(i * 1000, i * 1000 + 1000), range(1000)))
    return len(d)
