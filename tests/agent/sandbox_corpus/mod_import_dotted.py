# expect: forbidden
import os.path

def execute_command(video, question, choices):
    return os.path.exists('/')
