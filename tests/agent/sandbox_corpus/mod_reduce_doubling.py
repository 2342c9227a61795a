# expect: size_limit
# reduce's callback goes through the interpreter, with its size checks
from functools import reduce

def execute_command(video, question, choices):
    return len(reduce(lambda a, b: a + a, range(60), 'x'))
