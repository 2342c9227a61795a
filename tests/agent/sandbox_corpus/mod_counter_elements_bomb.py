# expect: size_limit
from collections import Counter

def execute_command(video, question, choices):
    return len(Counter({'a': 10 ** 12}).elements())
