# expect: forbidden
# one call could build an integer of millions of digits
from math import factorial

def execute_command(video, question, choices):
    return factorial(10 ** 7)
