# expect: forbidden
def execute_command(video, question, choices):
    exec('import os')
