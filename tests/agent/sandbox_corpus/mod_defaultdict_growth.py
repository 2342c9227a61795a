# expect: op_limit
# reading missing keys of a defaultdict adds them: charged, and the loop is bounded
from collections import defaultdict

def execute_command(video, question, choices):
    d = defaultdict(list)
    i = 0
    while True:
        d[i]
        i += 1
