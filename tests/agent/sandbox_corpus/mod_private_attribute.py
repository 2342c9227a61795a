# expect: forbidden
import re

def execute_command(video, question, choices):
    return re._compiler
