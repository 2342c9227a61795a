# expect: forbidden
from math import *

def execute_command(video, question, choices):
    return pi
