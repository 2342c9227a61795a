# expect: forbidden
# the field is assembled at run time, so only the formatter can refuse it
def execute_command(video, question, choices):
    template = '{0.' + '_' * 2 + 'class' + '_' * 2 + '}'
    return template.format(choices)
