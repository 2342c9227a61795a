# expect: forbidden
class Evil:
    pass

def execute_command(video, question, choices):
    return Evil()
