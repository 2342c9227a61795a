# expect: forbidden
from subprocess import run

def execute_command(video, question, choices):
    return run(['id'])
