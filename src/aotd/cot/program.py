"""The program converter: the program's own reasoning, and only the tool facts it used.

The call-by-call converter (``convert.RuleConverter``, ``cot.converter: rules``) quotes every
tool output: three boxes per detection, every recognised action. A student then spends most of
L_rationale on coordinates and on the recognizer's wrong guesses, and never sees why the program
did what it did. This converter, the embedded default, writes what a student can learn from:

* the program's comments, in execution order: a comment is said just before the first
  recorded call that comes after it in the program (so comments of branches not taken stay
  silent); the planner writes its reasoning there ("of the options, only the door and the
  fridge can be opened");
* each call's output in one short sentence, quoting only what the program went on to use:
  from a list of recognised actions the one it chose, and those it compared against a verb
  or object its code names; from a detection one box, at the middle frame where the object is
  seen, its coordinates rounded to a grid of ``GRID`` pixels;
* question-answering calls without their option lists, and the answer last.

It reads only the trace and the program (tool outputs, i.e. pixels), never the label.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from aotd.cot.convert import NOTHING_TO_CONVERT, _action, _answer, _ranges, _span, _window, traced_calls
from aotd.cot.record import Conversion
from aotd.data.records import TraceRecord
from aotd.data.schema import NUM_FRAMES

GRID = 32  # box coordinates are multiples of this (a 256 x 192 frame: 9 x 7 values)
MAX_ACTIONS = 1  # recognised actions quoted per call besides the one the program chose (more read as an option list)
_COMMENT = re.compile(r"^\s*#\s?(.*)$")
_LITERAL = re.compile(r"""\.(?:verb|obj)\s*[!=]=\s*(['"])(.+?)\1""")


class ProgramConverter:
    name = "program"

    def convert(self, trace: TraceRecord) -> Conversion:
        calls = traced_calls(trace)
        if not calls:
            return Conversion(method=self.name, error=NOTHING_TO_CONVERT)
        program = trace.program or ""
        comments = _comments(program)
        named = {m.group(2) for m in _LITERAL.finditer(program)}
        steps: list[str] = []
        said: set[int] = set()
        unseen: list[str] = []  # objects a run of detections did not find, said together
        for i, call in enumerate(calls):
            line = call.get("line")
            before = [(n, t) for n, end, t in comments if isinstance(line, int) and n < line < end and n not in said]
            sentence = _sentence(call, named, calls[i + 1:])
            missing = sentence is None and _not_seen(call)
            if unseen and (before or not missing):
                steps.append(_unseen(unseen))
                unseen = []
            for number, text in before:
                said.add(number)
                steps.append(text)
            if missing:
                unseen.append(missing)
            elif sentence and (not steps or sentence != steps[-1]):
                steps.append(sentence)
        if unseen:
            steps.append(_unseen(unseen))
        if not steps:
            return Conversion(method=self.name, error="the trace has no step to describe")
        steps.append(f"So the answer is: {_answer(trace.prediction)}")
        return Conversion(rationale=" ".join(steps), method=self.name)


def _comments(program: str) -> list[tuple[int, int, str]]:
    """(first line, end line, sentence) of each comment block: consecutive comment lines join
    into one sentence, which speaks for the code up to the end of its indented block (so a
    comment inside an ``if`` whose branch ran no call is not said)."""
    lines = program.splitlines()
    out: list[tuple[int, int, str]] = []
    number = 0
    while number < len(lines):
        m = _COMMENT.match(lines[number])
        if not m or not m.group(1).strip():
            number += 1
            continue
        indent, first, parts = len(lines[number]) - len(lines[number].lstrip()), number + 1, []
        while number < len(lines) and (m := _COMMENT.match(lines[number])) and m.group(1).strip():
            parts.append(m.group(1).strip())
            number += 1
        end = next((i + 1 for i in range(number, len(lines)) if lines[i].strip() and not _COMMENT.match(lines[i])
                    and len(lines[i]) - len(lines[i].lstrip()) < indent), len(lines) + 1)
        out.append((first, end, _sentence_case(" ".join(parts))))
    return out


def _sentence_case(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!", ":")) else text + "."


def _quantized(box: list[float]) -> str:
    """Outward to the grid, so that a small object keeps a box of at least one cell."""
    x1, y1, x2, y2 = box
    snapped = (math.floor(x1 / GRID), math.floor(y1 / GRID), math.ceil(x2 / GRID), math.ceil(y2 / GRID))
    return "[" + ", ".join(str(v * GRID) for v in snapped) + "]"


def _where(clip: Any) -> str:
    """" in frames 5 to 20" for a trimmed clip; nothing for the whole video (said once is enough)."""
    span = _span(clip)
    if isinstance(clip, dict) and clip.get("frames") == [0, NUM_FRAMES - 1]:
        return ""
    return f" in {span}" if span != "the video" else ""


def _args(call: dict[str, Any]) -> list[Any]:
    return list(call.get("args") or []) + list((call.get("kwargs") or {}).values())


def _not_seen(call: dict[str, Any]) -> str | Literal[False]:
    """The object a detection looked for and did not find, in the whole video."""
    args = _args(call)
    if call.get("name") in ("detect", "find_object", "exists") and not call.get("error") and not call.get("output") \
            and len(args) > 1 and not _where(args[0]):
        return str(args[1])
    return False


def _unseen(objects: list[str]) -> str:
    names = [f"the {o}" for o in dict.fromkeys(objects)]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{_cap(listed)} {'is' if len(names) == 1 else 'are'} not seen."


def _sentence(call: dict[str, Any], named: set[str], later: list[dict[str, Any]]) -> str | None:
    name, args, out = call.get("name"), _args(call), call.get("output")
    where = _where(args[0] if args else None)
    if call.get("error"):
        return f"The {name} tool fails{where}."
    if name in ("detect", "find_object", "exists"):
        obj = args[1] if len(args) > 1 else "object"
        if not out:
            return None if _not_seen(call) else f"The {obj} is not seen{where}."
        if name == "exists":
            return f"The {obj} is seen{where}."
        frames = sorted({b["frame"] for b in out}) if name == "detect" else sorted(out)
        seen = f"The {obj} is seen in {_ranges(frames)}"
        if name != "detect":
            return seen + "."
        mid = sorted(out, key=lambda b: b["frame"])[len(out) // 2]
        return f"{seen}, at {_quantized(mid['box'])} in frame {mid['frame']}."
    if name == "find_action":
        phrase = _cap(str(args[1])) if len(args) > 1 else "The action"
        return f'"{phrase}" happens {_window(out)}.' if out else f'"{phrase}" is not found{where}.'
    if name == "recognize_actions":
        return _recognized(out or [], where, named, later)
    if name == "query":
        shown = _where(args[0] if args else None)
        return f'The QA model{", shown" + shown.removeprefix(" in") + "," if shown else ""} answers "{out}".'
    return None  # trim, choose and anything else: the comments and the conclusion say it


def _recognized(acts: list[dict[str, Any]], where: str, named: set[str], later: list[dict[str, Any]]) -> str:
    """The recognised actions the program used: those a later call was given (the evidence it
    chose, the action it told the QA model about), then those its code compares against."""
    if not acts:
        return f"No action is recognised{where}."
    given = [a for c in later for a in _given(c)]
    used = [a for a in acts if any(_same(a, g) for g in given)]
    used.sort(key=lambda a: not (a.get("verb") in named or a.get("obj") in named))  # evidence the code named first
    shown = used[:1] + [a for a in acts if a not in used[:1] and (a.get("verb") in named or a.get("obj") in named)]
    shown = shown[: 1 + MAX_ACTIONS]
    if not shown:
        n = len(acts)
        return f"{n} action{'s are' if n > 1 else ' is'} recognised{where}, none of them relevant."
    text = "; ".join(f"{_phrase(a)} {_window(a.get('window'))}" for a in shown)
    return f"Recognised{where}: {text}."


def _phrase(act: dict[str, Any]) -> str:
    """"open the closet/cabinet": the object's full class name, as the options write it."""
    head = _action(act).rsplit(" the ", 1)[0]
    return f"{head} the {act.get('obj')}"


def _given(call: dict[str, Any]) -> list[Any]:
    """What a call was given that may be a recognised action: its arguments, one list deep."""
    out: list[Any] = []
    for value in _args(call)[1:] if call.get("name") == "choose" else _args(call):
        out += value if isinstance(value, list) and call.get("name") == "choose" else [value]
    return out


def _same(act: dict[str, Any], given: Any) -> bool:
    verb, obj = act.get("verb"), act.get("obj")
    if isinstance(given, dict):
        return verb == given.get("verb") and obj == given.get("obj")
    return isinstance(given, str) and (given in (obj, verb) or f"{verb} {obj}" in given)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
