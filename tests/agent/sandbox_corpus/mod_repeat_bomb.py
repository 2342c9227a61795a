# expect: size_limit
from itertools import repeat

def execute_command(video, question, choices):
    return len(repeat(0, 10 ** 9))
