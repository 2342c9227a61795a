# expect: size_limit
# an empty pattern matches between every two characters: the output is bounded before C builds it
import re

def execute_command(video, question, choices):
    return len(re.sub('', 'x' * 1000, 'a' * 100000))
