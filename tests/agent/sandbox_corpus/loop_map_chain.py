# expect: op_limit
# lazy C iterators chained a million deep segfault CPython; here map() is eager
def execute_command(video, question, choices):
    it = [1]
    while True:
        it = map(abs, it)
