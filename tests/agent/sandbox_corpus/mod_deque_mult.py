# expect: size_limit
from collections import deque

def execute_command(video, question, choices):
    return len(deque([0] * 1000) * 10 ** 6)
