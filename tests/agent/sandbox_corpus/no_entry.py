# expect: no_entry
def main(video, question, choices):
    return choices[0]
