# expect: size_limit
# the same through dict.items(), with no tuple literal
def execute_command(video, question, choices):
    lst = [()]
    for i in range(100000):
        d = {}
        d[lst[-1]] = 0
        lst.extend(d.items())
    return len(lst)
