# expect: size_limit
# a replacement function's pieces are added up as they come
import re

def execute_command(video, question, choices):
    return len(re.compile('a').sub(lambda m: 'b' * 1000, 'a' * 5000))
