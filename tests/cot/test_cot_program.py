"""Step 3's program converter: the program's reasoning, only the facts it used, short."""

from __future__ import annotations

import re
from pathlib import Path
from statistics import mean

import pytest

from aotd.cot.convert import RuleConverter
from aotd.cot.program import GRID, ProgramConverter
from aotd.cot.verify import RuleJudge
from aotd.data.records import TraceRecord, read_records
from aotd.embedded.student.tokenizer import WorldTokenizer
from aotd.eval.grounding import parse_grounding

PROGRAM = '''def execute_command(video, question, choices):
    # Of the options, only the door or the box can be opened.
    candidates = ['door', 'box']
    # It must be in the scene.
    candidates = [name for name in candidates if detect(video, name)]
    acts = recognize_actions(video)
    if not acts:
        # Nothing recognised: ask.
        return query(video, question, choices)
    acts = [a for a in acts if a.verb == 'open']
    return choose(choices, acts[0])
'''
WHOLE = {"frames": [0, 31]}
OPEN_DOOR = {"verb": "open", "obj": "door", "score": 0.9, "window": {"start": 12, "end": 15, "score": 1.0}}
CALLS = [
    {"name": "detect", "args": [WHOLE, "door"], "line": 5,
     "output": [{"frame": f, "box": [70.0, 20.0, 101.0, 90.0], "label": "door", "score": 0.9} for f in range(10, 21)]},
    {"name": "detect", "args": [WHOLE, "box"], "line": 5, "output": []},
    {"name": "recognize_actions", "args": [WHOLE], "line": 6,
     "output": [{"verb": "take", "obj": "cup", "score": 0.8, "window": {"start": 2, "end": 4, "score": 1.0}},
                OPEN_DOOR,
                {"verb": "hold", "obj": "book", "score": 0.4, "window": {"start": 20, "end": 22, "score": 1.0}}]},
    {"name": "choose", "args": [["Opened the door.", "Opened the box."], OPEN_DOOR], "line": 11,
     "output": "Opened the door."},
]


def _trace(calls: list[dict], program: str = PROGRAM, label: str = "Opened the door.") -> TraceRecord:
    return TraceRecord(sample_id="Interaction_T1_1", dataset="star", split="train", video_id="v", question_type="Interaction",
                       question="What did the person open?", choices=["Opened the door.", "Opened the box."], label=label,
                       prediction="Opened the door.", correct=True, program=program, planner="rules",
                       sandbox={"calls": calls}, frames=list(range(32)))


def test_comments_come_before_their_calls_and_branches_not_taken_stay_silent() -> None:
    text = ProgramConverter().convert(_trace(CALLS)).rationale
    assert text is not None
    assert text.index("Of the options, only the door or the box") < text.index("It must be in the scene") \
        < text.index("The door is seen")
    assert "Nothing recognised" not in text  # that comment's branch ran no call
    assert text.endswith("So the answer is: Opened the door.")


def test_only_the_facts_the_program_used_are_quoted() -> None:
    text = ProgramConverter().convert(_trace(CALLS)).rationale or ""
    assert "open the door from frame 12 to frame 15" in text  # the chosen action
    assert "take the cup" not in text and "hold the book" not in text  # recognised, never used
    assert "The box is not seen." in text
    # one box per detection, at the middle frame, snapped outward to the grid
    grounding = parse_grounding(text)
    assert [(b.frame, b.box) for b in grounding.boxes] == [(15, (64.0, 0.0, 128.0, 96.0))]
    assert all(v % GRID == 0 for v in grounding.boxes[0].box)


def test_a_query_is_quoted_without_its_options_and_the_label_is_never_read() -> None:
    calls = [CALLS[0], {"name": "query", "args": [{"frames": [8, 31]}, "What did the person open?",
                                                   ["Opened the door.", "Opened the box."]], "line": 9,
                        "output": "Opened the door."}]
    trace = _trace(calls)
    text = ProgramConverter().convert(trace).rationale or ""
    assert 'The QA model, shown frames 8 to 31, answers "Opened the door."' in text
    assert "Opened the box" not in text
    assert ProgramConverter().convert(trace.model_copy(update={"label": "The unicorn."})).rationale == text


def test_a_failed_trace_has_no_rationale() -> None:
    conv = ProgramConverter().convert(_trace(CALLS).model_copy(update={"failure": "sandbox:timeout"}))
    assert conv.rationale is None and conv.error


def test_supported_ignores_a_quoted_option_list() -> None:
    question, choices = "What did the person do after they took the book?", \
        ["Opened the door.", "Closed the window.", "Took the cup.", "Ate the apple."]
    listed = ('First, "take the book" happens from frame 3 to frame 8. Then, the QA model was asked which of '
              "opened the door, closed the window, took the cup or ate the apple. So the answer is: Opened the door.")
    assert RuleJudge().judge(question, choices, "Opened the door.", listed).reason == "supported"
    stated = listed.replace("which of opened the door, closed the window, took the cup or ate the apple",
                            "and saw: open the door from frame 12 to frame 15")
    assert RuleJudge().judge(question, choices, "Opened the door.", stated).passed


@pytest.fixture(scope="module")
def traces(world_traces: Path) -> list[TraceRecord]:
    return [t for t in read_records(world_traces, TraceRecord) if not t.failure]


def test_rationales_of_real_traces_are_short_grounded_and_name_the_answer(traces: list[TraceRecord]) -> None:
    tok = WorldTokenizer.build()
    short, verbose = [], []
    for t in traces:
        text = ProgramConverter().convert(t).rationale
        assert text and text.endswith(f"So the answer is: {t.prediction}")
        tok.encode(text)  # the embedded student can write every rationale
        spelled = [w for w in re.findall(r"[A-Za-z]+", text) if len(tok.encode(w)) > 1]
        assert not spelled, f"words the student would spell out letter by letter: {spelled}"
        short.append(len(tok.encode(text)))
        verbose.append(len(tok.encode(RuleConverter().convert(t).rationale or "")))
    assert mean(short) < 0.9 * mean(verbose) and mean(short) < 160
    judged = [RuleJudge().judge(t.question, t.choices, str(t.prediction), ProgramConverter().convert(t).rationale or "")
              for t in traces if t.correct]
    assert sum(bool(v.passed) for v in judged) >= 0.5 * len(judged)
