# expect: ok
# %-formatting is fine; it goes through str(), not attributes
def execute_command(video, question, choices):
    return '%s / %r / %05.1f' % (choices, question, 2.5)
