# expect: recursion
# a chain of lazy generator expressions recurses in Python, which is guarded
def execute_command(video, question, choices):
    g = [1]
    for i in range(1000):
        g = (x for x in g)
    return list(g)
