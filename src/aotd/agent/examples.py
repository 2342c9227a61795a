"""In-context examples for the planner: one question per STAR family, each with the program a
careful person would write against the tool API (``aotd.tools.api``).

They teach the shape the paper's planner needs: find the relevant moment first (``find_action``,
``find_object``), look only there (``trim``), read the answer off typed tool outputs, fall back
to ``query`` when a tool finds nothing, and end with ``choose``. A test runs every program in
the sandbox, so they stay valid Python of the supported subset.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    family: str
    question: str
    choices: tuple[str, ...]
    program: str


EXAMPLES: tuple[Example, ...] = (
    Example("Interaction", "Which object was opened by the person?",
            ("The laptop.", "The towel.", "The door.", "The shoe."), '''
def execute_command(video, question, choices):
    # The answer is the object of an "open" action: recognise the actions and keep the openings.
    opened = [a for a in recognize_actions(video) if a.verb == "open"]
    if opened:
        return choose(choices, opened[0].obj)
    # Nothing recognised: ground "open the <object>" for every option and keep the best match.
    best, best_score = None, 0.0
    for choice in choices:
        name = choice.lower().replace("the ", "").strip(" .")
        window = find_action(video, "open the " + name)
        if window is not None and window.score > best_score:
            best, best_score = name, window.score
    if best is not None:
        return choose(choices, best)
    return query(video, question, choices)
'''.strip()),
    Example("Interaction", "What did the person do while they were holding the pillow?",
            ("Opened the window.", "Put down the pillow.", "Took the book.", "Closed the box."), '''
def execute_command(video, question, choices):
    # Holding lasts from taking the pillow until putting it down; look only at that span.
    start, end = video.first, video.last
    taken = find_action(video, "take the pillow")
    if taken is not None:
        start = taken.end
    put = find_action(trim(video, start), "put down the pillow")
    if put is not None:
        end = put.start
    span = trim(video, start, end)
    # What happened there, other than handling the pillow itself.
    others = [a for a in recognize_actions(span) if a.obj != "pillow"]
    if others:
        return choose(choices, others[0])
    return query(span, question, choices)
'''.strip()),
    Example("Sequence", "What did the person do after they closed the refrigerator?",
            ("Took the food.", "Opened the refrigerator.", "Ate the sandwich.", "Threw the towel."), '''
def execute_command(video, question, choices):
    # Find the anchor action, then take the earliest action that starts after it ends.
    anchor = find_action(video, "close the refrigerator")
    if anchor is None:
        return query(video, question, choices)
    if anchor.end >= video.last:
        return query(trim(video, anchor.start), question, choices)
    later = recognize_actions(trim(video, anchor.end + 1))
    later = [a for a in later if a.window is not None and not (a.verb == "close" and a.obj == "refrigerator")]
    if not later:
        return query(trim(video, anchor.end), question, choices)
    first = min(later, key=lambda a: a.window.start)
    return choose(choices, first)
'''.strip()),
    Example("Sequence", "Which object did the person take before they ate the sandwich?",
            ("The cup/glass/bottle.", "The dish.", "The medicine.", "The book."), '''
def execute_command(video, question, choices):
    # Everything before the person starts eating the sandwich.
    anchor = find_action(video, "eat the sandwich")
    before = video
    if anchor is not None and anchor.start > video.first:
        before = trim(video, video.first, anchor.start - 1)
    # The last "take" there is the one that happened right before.
    takes = [a for a in recognize_actions(before) if a.verb == "take" and a.window is not None]
    if takes:
        latest = max(takes, key=lambda a: a.window.end)
        return choose(choices, latest.obj)
    return query(before, question, choices)
'''.strip()),
    Example("Prediction", "What will the person do next with the towel?",
            ("Put down.", "Ate.", "Threw.", "Opened."), '''
def execute_command(video, question, choices):
    # The answer happens after the clip ends, so no tool can see it. What was last done with the
    # towel tells what is likely next: tell the question-answering model, and show it the end.
    done = [a for a in recognize_actions(video, "towel") if a.window is not None]
    if not done:
        return query(video, question, choices)
    last = max(done, key=lambda a: a.window.end)
    recent = trim(video, last.window.start)
    return query(recent, "The person has just done this: " + last.text + ". " + question, choices)
'''.strip()),
    Example("Feasibility", "Which object is the person able to eat?",
            ("The sandwich.", "The shoe.", "The medicine.", "The blanket."), '''
def execute_command(video, question, choices):
    # Only food can be eaten (common sense), and only if it is in the scene.
    edible = ["sandwich", "food", "medicine"]
    candidates = []
    for choice in choices:
        name = choice.lower().replace("the ", "").strip(" .")
        if name in edible and exists(video, name):
            candidates.append(name)
    # Something already eaten up in the clip is no longer available.
    eaten = [a.obj for a in recognize_actions(video) if a.verb == "eat"]
    left = [c for c in candidates if c not in eaten] or candidates
    if len(left) == 1:
        return choose(choices, left[0])
    options = [choose(choices, c) for c in left] or choices
    return query(video, question, options)
'''.strip()),
)
