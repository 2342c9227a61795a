# expect: size_limit
# each list is within the size limit; together they are not
def execute_command(video, question, choices):
    return [[0] * 10 ** 6 for _ in range(1000)]
