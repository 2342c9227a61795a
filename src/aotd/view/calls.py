"""What a trace's tool calls say, in the viewer's terms: boxes, timeline rows, one-line summaries.

Traces are untrusted JSON, so every accessor here is defensive: a field of the wrong type is
skipped (or shown as raw JSON), never trusted to be a number, a list or a frame id in range.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

LABEL_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#2bb5d8", "#f032e6", "#9fbf1f",
                 "#469990", "#9a6324", "#800000", "#000075")
KIND_COLOURS = {"trim": "#7b8597", "find_action": "#e8740c", "recognize_actions": "#7a3fb0"}
MAX_ROWS_PER_CALL = 8  # timeline rows one recognize_actions call may add
MAX_SUMMARY = 140


@dataclass
class Call:
    index: int  # position in the trace, 0-based
    name: str
    line: int | None
    args: list[Any]
    kwargs: dict[str, Any]
    output: Any
    error: str | None

    @property
    def arguments(self) -> list[Any]:
        return self.args + list(self.kwargs.values())


@dataclass
class BoxMark:
    frame: int
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    score: float | None
    line: int | None


@dataclass
class Row:
    """One timeline row: a temporal result drawn as bars over the frame ids."""

    label: str
    kind: str
    colour: str
    spans: list[tuple[int, int]]
    line: int | None
    detail: str = ""
    empty_note: str = ""  # what to print when there is no span ("not found")


@dataclass
class TraceView:
    calls: list[Call]
    boxes: list[BoxMark]
    rows: list[Row]
    colours: dict[str, str] = field(default_factory=dict)  # object label -> colour


def parse_calls(sandbox: Any) -> list[Call]:
    raw = sandbox.get("calls") if isinstance(sandbox, dict) else None
    calls = []
    for i, c in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(c, dict):
            continue
        line = c.get("line")
        args, kwargs = c.get("args"), c.get("kwargs")
        error = c.get("error")
        calls.append(Call(index=i, name=str(c.get("name") or "?"), line=_int(line),
                          args=args if isinstance(args, list) else [], kwargs=kwargs if isinstance(kwargs, dict) else {},
                          output=c.get("output"), error=None if error is None else str(error)))
    return calls


def analyse(sandbox: Any, n_frames: int) -> TraceView:
    calls = parse_calls(sandbox)
    colours: dict[str, str] = {}

    def colour(label: str) -> str:
        if label not in colours:
            colours[label] = LABEL_COLOURS[len(colours) % len(LABEL_COLOURS)]
        return colours[label]

    boxes: list[BoxMark] = []
    rows: list[Row] = []
    for call in calls:
        if call.error is not None:
            continue
        out = call.output
        if call.name == "detect" and isinstance(out, list):
            found: dict[str, list[int]] = {}
            for b in out:
                mark = _box(b, call.line, n_frames)
                if mark is not None:
                    boxes.append(mark)
                    colour(mark.label)
                    found.setdefault(mark.label, []).append(mark.frame)
            asked = _text_arg(call, 1)
            if not found:
                rows.append(Row(f"{asked or 'object'} (detect)", "detect", colour(asked or "object"), [], call.line,
                                empty_note="not detected"))
            for label, frames in found.items():
                rows.append(Row(f"{label} (detect)", "detect", colour(label), runs(frames), call.line,
                                detail=f"{len(frames)} boxes"))
        elif call.name == "find_object" and isinstance(out, list):
            asked = _text_arg(call, 1) or "object"
            frames = [f for f in (_frame(x, n_frames) for x in out) if f is not None]
            rows.append(Row(f"{asked} (find_object)", "find_object", colour(asked), runs(frames), call.line,
                            empty_note="not found"))
        elif call.name == "find_action":
            phrase = _text_arg(call, 1) or "action"
            window = _window(out, n_frames)
            rows.append(Row(f"“{phrase}”", "find_action", KIND_COLOURS["find_action"],
                            [window[:2]] if window else [], call.line,
                            detail=_score_text(window[2] if window else None), empty_note="not found"))
        elif call.name == "recognize_actions" and isinstance(out, list):
            shown = 0
            for a in out:
                if not isinstance(a, dict) or shown >= MAX_ROWS_PER_CALL:
                    continue
                window = _window(a.get("window"), n_frames)
                if window is None:
                    continue
                rows.append(Row(f"{a.get('verb', '?')} {a.get('obj', '?')}", "recognize_actions",
                                KIND_COLOURS["recognize_actions"], [window[:2]], call.line,
                                detail=_score_text(_float(a.get("score")))))
                shown += 1
        elif call.name == "trim":
            span = clip_span(out, n_frames)
            if span is not None:
                rows.append(Row("trim", "trim", KIND_COLOURS["trim"], [span], call.line,
                                detail=f"{span[1] - span[0] + 1} frames"))
    return TraceView(calls=calls, boxes=boxes, rows=rows, colours=colours)


def runs(frames: list[int]) -> list[tuple[int, int]]:
    """Sorted frame ids as inclusive runs: [0, 1, 2, 5] -> [(0, 2), (5, 5)]."""
    out: list[tuple[int, int]] = []
    for f in sorted(set(frames)):
        if out and f == out[-1][1] + 1:
            out[-1] = (out[-1][0], f)
        else:
            out.append((f, f))
    return out


def ranges_text(frames: list[int]) -> str:
    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in runs(frames)]
    return ", ".join(parts) if parts else "none"


def clip_span(value: Any, n_frames: int) -> tuple[int, int] | None:
    """The [first, last] frame ids of a serialized clip."""
    if not isinstance(value, dict) or "video_id" not in value:
        return None
    frames = value.get("frames")
    if not isinstance(frames, list) or len(frames) != 2:
        return None
    a, b = _frame(frames[0], n_frames), _frame(frames[1], n_frames)
    return (a, b) if a is not None and b is not None and a <= b else None


# --------------------------------------------------------------------------- summaries

def describe_arg(value: Any, choices: list[str]) -> str:
    if isinstance(value, dict) and "video_id" in value and "frames" in value:
        frames = value.get("frames")
        if isinstance(frames, list) and len(frames) == 2:
            return f"clip {frames[0]}–{frames[1]}"
        return "clip"
    if isinstance(value, list) and value and value == choices:
        return "choices"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return short_json(value, 60)


def describe_call(call: Call, choices: list[str]) -> str:
    """``detect(clip 0–31, "dish")``: the call as the program made it, arguments abridged."""
    parts = [describe_arg(a, choices) for a in call.args]
    parts += [f"{k}={describe_arg(v, choices)}" for k, v in call.kwargs.items()]
    return _cut(f"{call.name}({', '.join(parts)})", MAX_SUMMARY)


def describe_output(call: Call) -> str:
    """The result in words a reader takes in at a glance; the full JSON goes in a fold."""
    out = call.output
    if call.error is not None:
        return _cut(f"error: {call.error}", MAX_SUMMARY)
    if call.name == "detect" and isinstance(out, list):
        if not out:
            return "nothing detected"
        labels: dict[str, list[int]] = {}
        for b in out:
            if isinstance(b, dict):
                labels.setdefault(str(b.get("label")), []).append(_int(b.get("frame")) or 0)
        per = "; ".join(f"{k} in frames {ranges_text(v)}" for k, v in labels.items())
        return _cut(f"{len(out)} box{'es' if len(out) != 1 else ''}: {per}", MAX_SUMMARY)
    if call.name == "find_object" and isinstance(out, list):
        ids = [x for x in out if isinstance(x, int) and not isinstance(x, bool)]
        return f"frames {ranges_text(ids)}" if ids else "not found"
    if call.name == "exists" and isinstance(out, bool):
        return "yes" if out else "no"
    if call.name == "find_action":
        if out is None:
            return "not found"
        if isinstance(out, dict) and "start" in out:
            return f"frames {out.get('start')}–{out.get('end')}{_score_suffix(out.get('score'))}"
    if call.name == "recognize_actions" and isinstance(out, list):
        if not out:
            return "no action recognised"
        items = []
        for a in out[:4]:
            if not isinstance(a, dict):
                items.append(short_json(a, 30))
                continue
            w = a.get("window")
            where = "" if not isinstance(w, dict) else f" {w.get('start')}" if w.get("start") == w.get("end") \
                else f" {w.get('start')}–{w.get('end')}"
            items.append(f"{a.get('verb')} {a.get('obj')}{where}{_score_suffix(a.get('score'))}")
        more = f"; +{len(out) - 4} more" if len(out) > 4 else ""
        return _cut("; ".join(items) + more, MAX_SUMMARY)
    if call.name == "trim" and isinstance(out, dict) and "frames" in out:
        return f"clip {describe_arg(out, [])[5:]} ({out.get('count')} frames)"
    if isinstance(out, str):
        return _cut(json.dumps(out, ensure_ascii=False), MAX_SUMMARY)
    return short_json(out, MAX_SUMMARY)


def short_json(value: Any, limit: int) -> str:
    return _cut(json.dumps(value, ensure_ascii=False, sort_keys=False, default=str), limit)


def full_json(value: Any, limit: int = 4000) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=1, default=str)
    return text if len(text) <= limit else text[:limit] + f"\n…[+{len(text) - limit} chars]"


# --------------------------------------------------------------------------- helpers

def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _frame(value: Any, n_frames: int) -> int | None:
    v = _int(value)
    return v if v is not None and 0 <= v < n_frames else None


def _text_arg(call: Call, i: int) -> str | None:
    args = call.arguments
    return str(args[i]) if len(args) > i and isinstance(args[i], str) else None


def _window(value: Any, n_frames: int) -> tuple[int, int, float | None] | None:
    if not isinstance(value, dict):
        return None
    a, b = _frame(value.get("start"), n_frames), _frame(value.get("end"), n_frames)
    if a is None or b is None or b < a:
        return None
    return a, b, _float(value.get("score"))


def _box(value: Any, line: int | None, n_frames: int) -> BoxMark | None:
    if not isinstance(value, dict):
        return None
    frame = _frame(value.get("frame"), n_frames)
    coords = value.get("box")
    if frame is None or not isinstance(coords, list) or len(coords) != 4:
        return None
    xs = [_float(c) for c in coords]
    if any(x is None for x in xs):
        return None
    x1, y1, x2, y2 = (float(x) for x in xs)  # type: ignore[arg-type]
    if x2 < x1 or y2 < y1:
        return None
    return BoxMark(frame, x1, y1, x2, y2, str(value.get("label", "?")), _float(value.get("score")), line)


def _score_text(score: float | None) -> str:
    return "" if score is None else f"{score:.2f}"


def _score_suffix(score: Any) -> str:
    s = _float(score)
    return "" if s is None else f" ({s:.2f})"
