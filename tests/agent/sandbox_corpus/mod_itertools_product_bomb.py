# expect: size_limit
# itertools.product counts its output before making it
import itertools

def execute_command(video, question, choices):
    return len(itertools.product(range(1000), repeat=10))
