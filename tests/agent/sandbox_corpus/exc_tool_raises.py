# expect: runtime
def execute_command(video, question, choices):
    frames = detect(video, 'cup', [0, 1])
    return explode(video, frames)
