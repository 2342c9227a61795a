# expect: forbidden
async def execute_command(video, question, choices):
    return 1
