"""Prompts of step 3's LLM roles: the trace-to-rationale converter and the two yes/no judges.

The converter follows the paper's instruction (every step in order, every box and frame
window kept, nothing elided with "and so on", the answer last) with few-shot examples of our
own, written in this project's tool vocabulary. The examples are stored as traces and rendered
by the same ``trace_text`` as real ones, so the model sees one input format throughout.

``trace_text`` prints boxes and windows exactly as ``aotd.tools.types`` describes them
("[x1, y1, x2, y2] in frame 14", "from frame 12 to frame 18"); ``grounding_items`` lists the
same items, so ``aotd.cot.llm.grounding_kept`` can score how many a rationale kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aotd.data.records import TraceRecord
from aotd.llm.base import Message

MAX_ITEMS = 64  # boxes/actions/frames shown per call output; more is a runaway loop, not evidence
MAX_TEXT = 300  # characters of one argument, string output or error shown

# --- the converter ---------------------------------------------------------------------------
CONVERT_INSTRUCTION = """\
You turn the execution trace of a program that answered a question about a video into a \
natural-language chain of thought: the reasoning a person would write while watching the video.

You are given the question, its choices, the program (with line numbers), the tool calls it made \
in order with their outputs, and the answer the program returned. The video has 32 frames, ids 0 to 31.

Rules:
1. Describe every step the program took, in order, in the first person ("I look for ...", "I find ..."): \
what was looked for, where, and what was found. Do not mention the program, code, functions, tools or variables.
2. Keep ALL bounding boxes and ALL frame windows of the trace, with their numbers written exactly as \
in the trace: boxes as "[x1, y1, x2, y2] in frame N", windows as "from frame A to frame B". \
Never shorten a list with "and so on", "etc." or "...".
3. Say so when a step finds nothing or fails.
4. Use only what the trace shows; add no facts of your own.
5. End with one sentence: "So the answer is: <the program's answer>."
6. Reply with the chain of thought only, as one plain-text paragraph."""


@dataclass(frozen=True)
class ConvertExample:
    """An invented trace and the rationale we want for it."""

    question: str
    choices: tuple[str, ...]
    program: str
    calls: tuple[dict[str, Any], ...]
    answer: str
    rationale: str

    def trace(self) -> TraceRecord:
        return TraceRecord(sample_id="example", dataset="example", split="example", video_id="example",
                           question=self.question, choices=list(self.choices), label=None, program=self.program,
                           planner="example", prediction=self.answer,
                           sandbox={"ok": True, "value": self.answer, "calls": list(self.calls)})


def _clip(first: int, last: int) -> dict[str, Any]:
    return {"video_id": "example", "frames": [first, last], "count": last - first + 1}


def _call(name: str, line: int, args: list[Any], output: Any, error: str | None = None) -> dict[str, Any]:
    return {"name": name, "args": args, "kwargs": {}, "output": output, "error": error, "line": line}


def _box(frame: int, x1: float, y1: float, x2: float, y2: float, label: str) -> dict[str, Any]:
    return {"frame": frame, "box": [x1, y1, x2, y2], "label": label, "score": 0.9}


def _act(verb: str, obj: str, score: float, start: int, end: int) -> dict[str, Any]:
    return {"verb": verb, "obj": obj, "score": score, "window": {"start": start, "end": end, "score": score}}


CONVERT_EXAMPLES: tuple[ConvertExample, ...] = (
    ConvertExample(
        question="What did the person do with the cup?",
        choices=("Took.", "Put down.", "Washed.", "Threw."),
        program='''\
def execute_command(video, question, choices):
    frames = [b.frame for b in detect(video, "cup")]
    clip = trim(video, min(frames), max(frames)) if frames else video
    acts = recognize_actions(clip, "cup")
    if acts:
        return choose(choices, acts[0].verb)
    return query(clip, question, choices)
''',
        calls=(
            _call("detect", 2, [_clip(0, 31), "cup"],
                  [_box(9, 140.2, 88.0, 171.6, 120.4, "cup"), _box(10, 141.0, 90.3, 172.1, 121.9, "cup"),
                   _box(11, 150.7, 101.5, 180.2, 133.0, "cup"), _box(12, 158.4, 110.2, 188.9, 141.6, "cup")]),
            _call("trim", 3, [_clip(0, 31), 9, 12], _clip(9, 12)),
            _call("recognize_actions", 4, [_clip(9, 12), "cup"],
                  [_act("put", "cup", 0.74, 10, 12), _act("hold", "cup", 0.18, 9, 10)]),
            _call("choose", 6, [["Took.", "Put down.", "Washed.", "Threw."], "put"], "Put down."),
        ),
        answer="Put down.",
        rationale=(
            "First, I look for the cup in the whole video. It is visible in four frames: at [140, 88, 172, 120] "
            "in frame 9, [141, 90, 172, 122] in frame 10, [151, 102, 180, 133] in frame 11 and [158, 110, 189, 142] "
            "in frame 12, moving down and to the right. Then I watch only frames 9 to 12, where the cup is, and "
            "recognise what happens to it: most likely the person puts the cup down from frame 10 to frame 12 "
            "(score 0.74); less likely, they hold it from frame 9 to frame 10 (score 0.18). Putting the cup down "
            "matches the option \"Put down.\". So the answer is: Put down."),
    ),
    ConvertExample(
        question="Which object did the person take before they opened the door?",
        choices=("The phone.", "The bag.", "The towel.", "The book."),
        program='''\
def execute_command(video, question, choices):
    window = find_action(video, "open the door")
    before = trim(video, 0, window.start) if window else video
    taken = [a for a in recognize_actions(before) if a.verb == "take"]
    if taken:
        return choose(choices, taken[0].obj)
    return query(before, "Which object did the person take?", choices)
''',
        calls=(
            _call("find_action", 2, [_clip(0, 31), "open the door"], {"start": 21, "end": 25, "score": 0.88}),
            _call("trim", 3, [_clip(0, 31), 0, 21], _clip(0, 21)),
            _call("recognize_actions", 4, [_clip(0, 21)], [_act("sit", "chair", 0.41, 2, 7)]),
            _call("query", 7, [_clip(0, 21), "Which object did the person take?",
                               ["The phone.", "The bag.", "The towel.", "The book."]], "The bag."),
        ),
        answer="The bag.",
        rationale=(
            "First, I search the video for the moment the person opens the door and find it from frame 21 to "
            "frame 25. The object must have been taken before that, so I look at frames 0 to 21 only. There I "
            "recognise one action, sitting on the chair from frame 2 to frame 7, and no taking. Since no action "
            "shows what was taken, I watch frames 0 to 21 again and ask which object the person took, among the "
            "phone, the bag, the towel and the book; the answer is the bag. So the answer is: The bag."),
    ),
    ConvertExample(
        question="What is the person holding at the end of the video?",
        choices=(),
        program='''\
def execute_command(video, question, choices):
    end = trim(video, 24, 31)
    if exists(end, "laptop"):
        return "laptop"
    return query(end, question)
''',
        calls=(
            _call("trim", 2, [_clip(0, 31), 24, 31], _clip(24, 31)),
            _call("exists", 3, [_clip(24, 31), "laptop"], False),
            _call("query", 5, [_clip(24, 31), "What is the person holding at the end of the video?"], "a pillow"),
        ),
        answer="a pillow",
        rationale=(
            "First, I look at the end of the video, frames 24 to 31. I check whether a laptop is visible there, and "
            "it is not. Then I watch frames 24 to 31 and ask what the person is holding; the answer is a pillow. "
            "So the answer is: a pillow."),
    ),
)


def convert_messages(trace: TraceRecord, examples: tuple[ConvertExample, ...] = CONVERT_EXAMPLES) -> list[Message]:
    """System instruction, one user/assistant pair per example, then this trace."""
    messages: list[Message] = [{"role": "system", "content": CONVERT_INSTRUCTION}]
    for ex in examples:
        messages.append({"role": "user", "content": trace_text(ex.trace())})
        messages.append({"role": "assistant", "content": ex.rationale})
    messages.append({"role": "user", "content": trace_text(trace)})
    return messages


# --- the judges ------------------------------------------------------------------------------
QUALITY_INSTRUCTION = """\
You check rationales written to answer questions about videos. You are given a question, its choices \
(if any), the answer, and a rationale that leads to the answer.
Does the rationale follow a clear step-by-step reasoning process, and does it contain the key \
information needed to answer the question?
Reply with 'Yes' or 'No' only."""

QUALITY_EXAMPLES: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    # (verdict, question, choices, answer, rationale)
    ("Yes", "What did the person do with the cup?", ("Took.", "Put down.", "Washed.", "Threw."), "Put down.",
     CONVERT_EXAMPLES[0].rationale),
    ("No", "Which object did the person take before they opened the door?",
     ("The phone.", "The bag.", "The towel.", "The book."), "The bag.",
     "The person opens the door and many things happen in the video, and so on. So the answer is: The bag."),
)


def quality_prompt(question: str, choices: list[str] | tuple[str, ...], answer: str, rationale: str) -> str:
    lines = [f"Question: {question}"]
    if choices:
        lines.append(f"Choices: {json.dumps(list(choices), ensure_ascii=False)}")
    lines += [f"Answer: {answer}", f"Rationale: {rationale}"]
    return "\n".join(lines)


def quality_messages(question: str, choices: list[str], answer: str, rationale: str) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": QUALITY_INSTRUCTION}]
    for verdict, q, c, a, r in QUALITY_EXAMPLES:
        messages.append({"role": "user", "content": quality_prompt(q, c, a, r)})
        messages.append({"role": "assistant", "content": verdict})
    messages.append({"role": "user", "content": quality_prompt(question, choices, answer, rationale)})
    return messages


ANSWER_INSTRUCTION = """\
You grade answers to open-ended questions about videos. You are given a question, the correct answer \
and a predicted answer.
Is the predicted answer correct? Account for format differences: case, punctuation, articles, \
verb tense, word order, singular or plural, and synonyms all count as the same answer; a different \
object, action or person does not.
Reply with 'Yes' or 'No' only."""

ANSWER_EXAMPLES: tuple[tuple[str, str, str, str], ...] = (
    # (verdict, question, correct answer, prediction)
    ("Yes", "What did the person do with the towel?", "threw the towel", "Throw towel."),
    ("No", "What did the person open?", "the window", "the door"),
)


def answer_prompt(question: str, label: str, prediction: str) -> str:
    return f"Question: {question}\nCorrect answer: {label}\nPredicted answer: {prediction}"


def answer_messages(question: str, label: str, prediction: str) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": ANSWER_INSTRUCTION}]
    for verdict, q, lab, pred in ANSWER_EXAMPLES:
        messages.append({"role": "user", "content": answer_prompt(q, lab, pred)})
        messages.append({"role": "assistant", "content": verdict})
    messages.append({"role": "user", "content": answer_prompt(question, label, prediction)})
    return messages


# --- trace rendering -------------------------------------------------------------------------
def trace_text(trace: TraceRecord) -> str:
    """The converter's view of a trace: question, choices, numbered program, calls, answer.

    Every box and window of an output is printed (up to ``MAX_ITEMS`` per call, with an explicit
    count beyond), since the rationale must keep them; scores of boxes are left out to save tokens.
    """
    lines = [f"Question: {trace.question}"]
    lines.append(f"Choices: {json.dumps(trace.choices, ensure_ascii=False)}" if trace.choices
                 else "Choices: none (open-ended question)")
    program = (trace.program or "").rstrip("\n").split("\n")
    width = len(str(len(program)))
    lines.append("Program:")
    lines += [f"{i:>{width}} | {text}" for i, text in enumerate(program, 1)]
    lines.append("Trace:")
    calls = (trace.sandbox or {}).get("calls") or []
    lines += [_call_text(c) for c in calls] or ["(no tool calls)"]
    lines.append(f"Answer: {_value(trace.prediction)}")
    return "\n".join(lines)


def _call_text(call: Any) -> str:
    if not isinstance(call, dict):
        return _short(json.dumps(call, default=str))
    name = str(call.get("name"))
    args = [_value(a) for a in call.get("args") or []]
    args += [f"{k}={_value(v)}" for k, v in (call.get("kwargs") or {}).items()]
    where = f"line {call['line']}: " if call.get("line") is not None else ""
    head = f"{where}{name}({', '.join(args)})"
    if call.get("error"):
        return f"{head} -> error: {_short(str(call['error']))}"
    render = _OUTPUT.get(name)
    try:
        out = render(call.get("args") or [], call.get("output")) if render else _value(call.get("output"))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        out = _value(call.get("output"))
    return f"{head} -> {out}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"... ({len(text)} characters)"


def _is_clip(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("frames"), list) and len(v["frames"]) == 2


def _value(v: Any) -> str:
    """An argument or plain output: clips as video[a..b], strings quoted, the rest as compact JSON."""
    if _is_clip(v):
        return f"video[{v['frames'][0]}..{v['frames'][1]}]"
    if isinstance(v, bool) or v is None:
        return str(v)  # Python's spelling: the program is Python
    if isinstance(v, list) and len(v) > MAX_ITEMS:
        return f"{len(v)} items: " + ", ".join(_value(x) for x in v[:MAX_ITEMS]) + f", ... ({len(v) - MAX_ITEMS} more)"
    return _short(json.dumps(v, ensure_ascii=False, default=str, separators=(", ", ": ")))


def box_text(b: dict[str, Any]) -> str:
    """As ``Box.describe``: "[x1, y1, x2, y2] in frame N", coordinates rounded."""
    x1, y1, x2, y2 = (round(float(v)) for v in b["box"])
    return f"[{x1}, {y1}, {x2}, {y2}] in frame {int(b['frame'])}"


def window_text(w: dict[str, Any]) -> str:
    """As ``Window.describe``: "from frame A to frame B"."""
    return f"from frame {int(w['start'])} to frame {int(w['end'])}"


def _capped(items: list[Any], noun: str, nouns: str, render: Callable[[Any], str]) -> str:
    if not items:
        return f"no {nouns}"
    shown = "; ".join(render(x) for x in items[:MAX_ITEMS])
    more = f"; ... {len(items) - MAX_ITEMS} more not shown" if len(items) > MAX_ITEMS else ""
    return f"{len(items)} {noun if len(items) == 1 else nouns}: {shown}{more}"


def _boxes(args: list[Any], out: Any) -> str:
    """Boxes; a box's label is named only when it is not the name that was asked for."""
    asked = args[1] if len(args) > 1 else None
    return _capped(list(out or []), "box", "boxes",
                   lambda b: (f"{b['label']} " if b.get("label") not in (None, asked) else "") + box_text(b))


def _window(args: list[Any], out: Any) -> str:
    if out is None:
        return "None (not found)"
    return f"{window_text(out)} (score {float(out.get('score', 1.0)):.2f})"


def _actions(args: list[Any], out: Any) -> str:
    def one(a: dict[str, Any]) -> str:
        w = a.get("window")
        return f"{a['verb']} {a['obj']} (score {float(a.get('score', 1.0)):.2f}) " + \
            (window_text(w) if w else "at an unknown time")

    return _capped(list(out or []), "action", "actions", one)


def _frames(args: list[Any], out: Any) -> str:
    frames = sorted({int(f) for f in out or []})
    if not frames:
        return "no frames"
    runs: list[list[int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return "frames " + ", ".join(f"{a} to {b}" if a != b else str(a) for a, b in runs)


_OUTPUT = {"detect": _boxes, "find_action": _window, "recognize_actions": _actions, "find_object": _frames}


def grounding_items(trace: TraceRecord) -> list[tuple[str, tuple[int, ...]]]:
    """The boxes ("box", (frame, x1, y1, x2, y2)) and windows ("window", (start, end)) that
    ``trace_text`` shows from detect / find_action / recognize_actions outputs, without repeats."""
    items: dict[tuple[str, tuple[int, ...]], None] = {}
    for call in (trace.sandbox or {}).get("calls") or []:
        if not isinstance(call, dict) or call.get("error"):
            continue
        name, out = call.get("name"), call.get("output")
        try:
            if name == "detect":
                for b in list(out or [])[:MAX_ITEMS]:
                    items[("box", (int(b["frame"]), *(round(float(v)) for v in b["box"])))] = None
            elif name == "find_action" and out:
                items[("window", (int(out["start"]), int(out["end"])))] = None
            elif name == "recognize_actions":
                for a in list(out or [])[:MAX_ITEMS]:
                    if a.get("window"):
                        items[("window", (int(a["window"]["start"]), int(a["window"]["end"])))] = None
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return list(items)
