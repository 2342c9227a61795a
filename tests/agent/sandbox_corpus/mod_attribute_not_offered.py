# expect: forbidden
import collections

def execute_command(video, question, choices):
    return collections.namedtuple('P', 'x y')
