# expect: size_limit
# dict views are measured like containers before str() builds them
def execute_command(video, question, choices):
    s = 'a' * 10 ** 6
    d = {i: s for i in range(10 ** 5)}
    return str(d.values())
