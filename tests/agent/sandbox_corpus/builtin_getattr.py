# expect: forbidden
def execute_command(video, question, choices):
    return getattr(question, '__cl' + 'ass__')
