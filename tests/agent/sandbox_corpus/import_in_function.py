# expect: forbidden
def execute_command(video, question, choices):
    import shutil
    return shutil.rmtree('/tmp')
