# expect: forbidden
import os

def execute_command(video, question, choices):
    return os.listdir('/')
