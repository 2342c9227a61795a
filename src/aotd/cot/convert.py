"""The deterministic converter: a trace, read call by call, as a step-by-step rationale.

It is the embedded default's stand-in for the paper's LLM conversion and follows the same
instruction: every step the program took, in order, with its grounding kept — frame windows as
"from frame 12 to frame 18", boxes as "[x1, y1, x2, y2] in frame 14" — and the answer last. It
reads only the trace (tool outputs, i.e. pixels), never the label.
"""

from __future__ import annotations

from typing import Any

from aotd.cot.record import Conversion
from aotd.data.records import TraceRecord
from aotd.data.text import action_phrase

_CONNECTORS = ("First", "Then", "Next", "After that")
MAX_BOXES = 3  # boxes quoted per detection: first, middle and last frame where the object is seen


def traced_calls(trace: TraceRecord) -> list[dict[str, Any]]:
    """The tool calls of a successful trace; empty when there is nothing to convert."""
    return [] if trace.failure else list((trace.sandbox or {}).get("calls") or [])


NOTHING_TO_CONVERT = "no successful trace to convert"


class RuleConverter:
    name = "rules"

    def convert(self, trace: TraceRecord) -> Conversion:
        calls = traced_calls(trace)
        if not calls:
            return Conversion(method=self.name, error=NOTHING_TO_CONVERT)
        steps = [s for s in (_sentence(c) for c in calls) if s]
        if not steps:
            return Conversion(method=self.name, error="the trace has no step to describe")
        text = [f"{_CONNECTORS[min(i, len(_CONNECTORS) - 1)]}, {_lower_first(s)}" for i, s in enumerate(steps)]
        text.append(f"So the answer is: {_answer(trace.prediction)}")
        return Conversion(rationale=" ".join(text), method=self.name)


def _answer(value: Any) -> str:
    text = str(value).strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != "I " else text


def _sentence(call: dict[str, Any]) -> str | None:
    """One step of the rationale, or None for a call that adds nothing a reader needs."""
    name, args, out = call.get("name"), list(call.get("args") or []), call.get("output")
    args += list((call.get("kwargs") or {}).values())
    if call.get("error"):
        return f"I try {name} on {_span(args[0] if args else None)}, but it fails: {str(call['error'])[:120]}."
    describe = _DESCRIBE.get(str(name))
    return describe(args, out) if describe else None


def _span(clip: Any) -> str:
    if isinstance(clip, dict) and isinstance(clip.get("frames"), list) and len(clip["frames"]) == 2:
        first, last = clip["frames"]
        return f"frames {first} to {last}"
    return "the video"


def _ranges(frames: list[int]) -> str:
    """[0, 1, 2, 5, 6] -> "frames 0 to 2 and 5 to 6"."""
    runs: list[list[int]] = []
    for f in sorted(set(frames)):
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    parts = [f"{a} to {b}" if a != b else f"{a}" for a, b in runs]
    joined = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return ("frame " if len(runs) == 1 and runs[0][0] == runs[0][1] else "frames ") + joined


def _box(b: dict[str, Any]) -> str:
    x1, y1, x2, y2 = (round(v) for v in b["box"])
    return f"[{x1}, {y1}, {x2}, {y2}] in frame {b['frame']}"


def _window(w: dict[str, Any] | None) -> str:
    return f"from frame {w['start']} to frame {w['end']}" if w else "at an unknown time"


def _action(a: dict[str, Any]) -> str:
    return action_phrase(str(a["verb"]), str(a["obj"]))


def _detect(args: list[Any], out: Any) -> str:
    name = args[1] if len(args) > 1 else "object"
    if not out:
        return f"I look for the {name} in {_span(args[0] if args else None)} and do not find it."
    boxes = sorted(out, key=lambda b: b["frame"])
    picks = sorted({0, len(boxes) // 2, len(boxes) - 1})[:MAX_BOXES]
    shown = " and ".join(_box(boxes[i]) for i in picks)
    return f"I look for the {name}: it is visible in {_ranges([b['frame'] for b in boxes])}, at {shown}."


def _find_object(args: list[Any], out: Any) -> str:
    name = args[1] if len(args) > 1 else "object"
    if not out:
        return f"I look for the {name} in {_span(args[0] if args else None)} and do not find it."
    return f"I look for the {name}: it is visible in {_ranges(out)}."


def _exists(args: list[Any], out: Any) -> str:
    name = args[1] if len(args) > 1 else "object"
    where = _span(args[0] if args else None)
    return f"I check {where} for the {name}: it is there." if out else f"I check {where} for the {name} and do not find it."


def _find_action(args: list[Any], out: Any) -> str:
    phrase = args[1] if len(args) > 1 else "the action"
    if not out:
        return f'I search {_span(args[0] if args else None)} for "{phrase}" and do not find it.'
    return f'I find "{phrase}" {_window(out)}.'


def _recognize(args: list[Any], out: Any) -> str:
    where = _span(args[0] if args else None)
    about = f" on the {args[1]}" if len(args) > 1 and args[1] else ""
    if not out:
        return f"I recognise no action{about} in {where}."
    acts = "; ".join(f"{_action(a)} {_window(a.get('window'))}" for a in out)
    return f"I recognise the actions{about} in {where}: {acts}."


def _trim(args: list[Any], out: Any) -> str | None:
    if args and _span(args[0]) == _span(out):
        return None  # trimming to the whole clip tells the reader nothing
    return f"I focus on {_span(out)}."


def _query(args: list[Any], out: Any) -> str:
    question = args[1] if len(args) > 1 else "the question"
    options = args[2] if len(args) > 2 and isinstance(args[2], list) else None
    among = f" (options: {', '.join(map(str, options))})" if options else ""
    return f'I look at {_span(args[0] if args else None)} and ask "{question}"{among}; the answer is "{out}".'


def _choose(args: list[Any], out: Any) -> str | None:
    """The program's deduction: what its evidence points to (the conclusion names the option)."""
    evidence = args[1] if len(args) > 1 else None
    if isinstance(evidence, list):
        evidence = evidence[0] if evidence else None
    if isinstance(evidence, dict) and "verb" in evidence:
        return f"This points to the action {_action(evidence)}."
    if isinstance(evidence, dict) and "label" in evidence:
        return f'This points to the {evidence["label"]}.'
    if isinstance(evidence, str) and evidence.strip():
        return f'This points to "{evidence.strip()}".'
    return None


_DESCRIBE = {"detect": _detect, "find_object": _find_object, "exists": _exists, "find_action": _find_action,
             "recognize_actions": _recognize, "trim": _trim, "query": _query, "choose": _choose}
