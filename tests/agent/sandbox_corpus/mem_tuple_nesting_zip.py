# expect: size_limit
def execute_command(video, question, choices):
    it = [1]
    for i in range(100000):
        it = zip(it)
    return set(it)
