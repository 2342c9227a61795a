# expect: forbidden
from . import tools

def execute_command(video, question, choices):
    return tools
