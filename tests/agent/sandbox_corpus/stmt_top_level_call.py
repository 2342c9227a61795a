# expect: forbidden
# a planner that also calls its own function at the top level
def execute_command(video, question, choices):
    return choices[0]

print(execute_command(video, question, choices))
