"""One sample's page: the question and verdicts, frames with boxes, timeline, program, rationale."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aotd.data.records import CotRecord, TraceRecord, Verdict
from aotd.view.calls import (
    BoxMark,
    Call,
    Row,
    TraceView,
    analyse,
    describe_call,
    describe_output,
    full_json,
    ranges_text,
    short_json,
)
from aotd.view.frames import Frames
from aotd.view.html import badge, esc, mark, page

MAX_CALLS_PER_LINE = 5  # shown open under a program line; the rest fold away
_GROUNDING = re.compile(r"\bframes? \d+(?:\s*(?:to|-|–|and)\s*(?:frame\s*)?\d+)?"
                        r"|\[\s*-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?){3}\s*\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'“])")


@dataclass
class SamplePage:
    trace: TraceRecord
    cot: CotRecord | None
    frames: Frames
    where: str  # "records.jsonl:12"
    prev: str | None = None  # file names of the neighbouring pages
    next: str | None = None


def status(trace: TraceRecord, cot: CotRecord | None) -> list[tuple[str, str, str | None]]:
    """(text, kind, tooltip) of the badges at the top of a page and in the index."""
    out: list[tuple[str, str, str | None]] = []
    if trace.failure:
        out.append((f"failed: {trace.failure}", "bad", trace.error))
    elif trace.correct is True:
        out.append(("correct", "ok", None))
    elif trace.correct is False:
        out.append(("wrong", "bad", None))
    else:
        out.append(("unlabelled", "na", None))
    if cot is not None:
        out.append(("kept", "ok", None) if cot.kept else ("rejected", "bad", rejection(cot)))
    return out


def rejection(cot: CotRecord) -> str | None:
    for name, v in (("answer", cot.answer), ("quality", cot.quality)):
        if v is not None and v.passed is False:
            return f"{name}: {v.reason or 'failed'}"
    return cot.failure or cot.error


def render(p: SamplePage) -> str:
    t, cot = p.trace, p.cot
    view = analyse(t.sandbox, p.frames.count)
    nav = ['<nav class="topnav"><a href="../index.html">← all samples</a>']
    nav.append(f'<a href="{esc(p.prev)}">‹ previous</a>' if p.prev else '<span class="muted">‹ previous</span>')
    nav.append(f'<a href="{esc(p.next)}">next ›</a>' if p.next else '<span class="muted">next ›</span>')
    nav.append(f'<span class="sp"></span><span>{esc(p.where)}</span></nav>')
    badges = "".join(badge(text, kind, tip) for text, kind, tip in status(t, cot))
    meta = " · ".join(esc(x) for x in (t.dataset, t.split, t.question_type or "no type", f"video {t.video_id}") if x)
    body = [
        "".join(nav),
        '<div class="wrap">',
        (f'<div class="head"><div><h1>{esc(t.sample_id)}</h1><div class="meta">{meta}</div></div>'
         f'<div class="badges">{badges}</div></div>'),
        '<section class="qa">',
        f'<div class="card">{_question(t)}</div>',
        f'<div class="card"><h2>Verdicts</h2>{_verdicts(t, cot)}</div>',
        "</section>",
        '<main class="cols"><div>',
        f'<section class="card" id="frames">{_frames(p.frames, view)}</section>',
        f'<section class="card" id="timeline">{_timeline(view, p.frames.count)}</section>',
        f'<section class="card" id="rationale">{_rationale(cot)}</section>' if cot is not None else "",
        "</div><div>",
        f'<section class="card" id="program">{_program(t, view)}</section>',
        f'<section class="card" id="provenance">{_provenance(t, cot, p.frames)}</section>',
        "</div></main>",
        _zooms(p.frames, view),
        "</div>",
    ]
    return page(f"{t.sample_id} — aotd trace", "\n".join(b for b in body if b))


# --------------------------------------------------------------------------- question and verdicts

def _question(t: TraceRecord) -> str:
    parts = [f'<p class="question">{esc(t.question)}</p>']
    if t.choices:
        items = []
        for i, choice in enumerate(t.choices):
            is_label, is_pred = choice == t.label, choice == t.prediction and not t.failure
            cls = "hit" if is_label and is_pred else "miss" if is_pred else "truth" if is_label else ""
            tags = ('<span class="tag label">label</span>' if is_label else "") + \
                   (f'<span class="tag pred{"" if is_label else " wrong"}">predicted</span>' if is_pred else "")
            key = chr(ord("A") + i) if i < 26 else str(i + 1)
            items.append(f'<li class="{cls}"><span class="key">{key}</span><span class="txt">{esc(choice)}</span>'
                         f"{tags}</li>")
        parts.append(f'<ul class="choices">{"".join(items)}</ul>')
        if t.prediction is not None and t.prediction not in t.choices:
            parts.append(f'<div class="note err">the program returned {esc(short_json(t.prediction, 120))}, '
                         "which is not one of the choices</div>")
    else:
        pred = "–" if t.prediction is None else esc(t.prediction if isinstance(t.prediction, str)
                                                    else short_json(t.prediction, 120))
        parts.append(f'<div class="answers"><div><span class="tag label">label</span> {esc(t.label or "–")}</div>'
                     f'<div><span class="tag pred">predicted</span> {pred}</div></div>')
    return "".join(parts)


def _verdict_row(stage: str, passed: bool | None, method: str | None, reason: str | None,
                 extra: str = "") -> str:
    kind = {True: "ok", False: "bad", None: "na"}[passed]
    word = {True: "passed", False: "failed", None: "not run"}[passed]
    how = f' <span class="why">({esc(method)})</span>' if method else ""
    why = esc(reason) if reason else ""
    return (f'<tr><td class="stage">{esc(stage)}</td><td class="v">{badge(f"{mark(passed)} {word}", kind)}{how}</td>'
            f'<td class="why">{why}{extra}</td></tr>')


def _verdict(stage: str, v: Verdict | None) -> str:
    if v is None:
        return _verdict_row(stage, None, None, None)
    reply = ""
    if v.reply:
        reply = (f'<details class="raw"><summary>judge reply</summary><pre>{esc(v.reply[:4000])}</pre></details>')
    return _verdict_row(stage, v.passed, v.method, v.reason, reply)


def _verdicts(t: TraceRecord, cot: CotRecord | None) -> str:
    rows = []
    if t.failure:
        rows.append(_verdict_row("trace", False, t.failure, t.error))
    else:
        rows.append(_verdict_row("trace", True, f"{t.planner} planner", "the program ran and returned a choice"
                                 if t.choices else "the program ran"))
    if cot is None:
        correct = None if t.failure or t.correct is None else t.correct
        reason = None if correct is None else (f"predicted {short_json(t.prediction, 80)}, label {t.label!r}"
                                               if not correct else None)
        rows.append(_verdict_row("answer", correct, "exact" if correct is not None else None, reason))
        return f'<table class="verdicts">{"".join(rows)}</table><p class="muted">a step-2 trace: no rationale yet</p>'
    rows.append(_verdict("(i) answer", cot.answer))
    if cot.failure and cot.failure.startswith("convert"):
        rows.append(_verdict_row("rationale", False, cot.converter, cot.error))
    rows.append(_verdict("(ii) quality", cot.quality))
    kept = badge("kept", "ok") if cot.kept else badge("rejected", "bad")
    tail = f' <span class="why">{esc(cot.failure)}</span>' if cot.failure and not t.failure else ""
    rows.append(f'<tr><td class="stage">result</td><td class="v">{kept}</td><td class="why">{tail}</td></tr>')
    return f'<table class="verdicts">{"".join(rows)}</table>'


# --------------------------------------------------------------------------- frames

def _legend(view: TraceView) -> str:
    if not view.colours:
        return ""
    counts: dict[str, int] = {}
    for b in view.boxes:
        counts[b.label] = counts.get(b.label, 0) + 1
    keys = [f'<span><i style="border-color:{c}"></i>{esc(label)} <span class="muted">{counts.get(label, 0)}</span>'
            f"</span>" for label, c in view.colours.items()]
    return f'<div class="legend">{"".join(keys)}</div>'


def _rects(boxes: list[BoxMark], view: TraceView, labels: bool) -> str:
    out = []
    for b in boxes:
        colour = view.colours.get(b.label, "#ffffff")
        tip = f"{b.label} {'' if b.score is None else f'{b.score:.2f} '}[{b.x1:g}, {b.y1:g}, {b.x2:g}, {b.y2:g}]"
        if b.line is not None:
            tip += f" (line {b.line})"
        geom = f'x="{b.x1:g}" y="{b.y1:g}" width="{b.x2 - b.x1:g}" height="{b.y2 - b.y1:g}"'
        out.append(f'<rect class="halo" {geom} fill="none" stroke="#000" stroke-opacity=".55" stroke-width="4" '
                   f'vector-effect="non-scaling-stroke"/>'
                   f'<rect class="box" {geom} fill="{colour}" fill-opacity=".12" stroke="{colour}" stroke-width="2" '
                   f'vector-effect="non-scaling-stroke"><title>{esc(tip)}</title></rect>')
        if labels:
            out.append(f'<text x="{b.x1:g}" y="{max(b.y1 - 2, 6):g}" fill="{colour}" font-size="7" '
                       f'stroke="#000" stroke-width=".6" paint-order="stroke" font-weight="700">{esc(b.label)}</text>')
    return "".join(out)


def _frames(frames: Frames, view: TraceView) -> str:
    by_frame: dict[int, list[BoxMark]] = {}
    for b in view.boxes:
        by_frame.setdefault(b.frame, []).append(b)
    n_boxes = len(view.boxes)
    sub = f"{frames.count} sampled · {n_boxes} box{'es' if n_boxes != 1 else ''} from detect · click a frame to enlarge"
    head = [f"<h2>Frames <small>{esc(sub)}</small></h2>", _legend(view)]
    if frames.note:
        cls = "note" if frames.available else "note err"
        prefix = "" if frames.available else "frames unavailable: "
        head.append(f'<div class="{cls}">{esc(prefix + frames.note)}</div>')
    cells = []
    for i in range(frames.count):
        boxes = by_frame.get(i, [])
        has = " has" if boxes else ""
        if frames.available and i < len(frames.files):
            src = f" (source frame {frames.source[i]})" if i < len(frames.source) else ""
            svg = (f'<svg class="boxes" viewBox="0 0 {frames.width} {frames.height}" preserveAspectRatio="none">'
                   f"{_rects(boxes, view, labels=False)}</svg>") if boxes else ""
            cells.append(f'<a class="frame{has}" id="f{i}" href="#z{i}" title="frame {i}{src}">'
                         f'<img class="thumb" src="{esc(frames.files[i])}" alt="frame {i}" '
                         f'width="{frames.width}" height="{frames.height}">{svg}<span class="fid">{i}</span></a>')
        else:
            labels = sorted({b.label for b in boxes})
            text = esc(", ".join(labels)) if labels else ""
            cells.append(f'<div class="frame missing{has}" id="f{i}">{text}<span class="fid">{i}</span></div>')
    return "".join(head) + f'<div class="grid">{"".join(cells)}</div>'


def _zooms(frames: Frames, view: TraceView) -> str:
    if not frames.available:
        return ""
    by_frame: dict[int, list[BoxMark]] = {}
    for b in view.boxes:
        by_frame.setdefault(b.frame, []).append(b)
    out = []
    for i, file in enumerate(frames.files):
        boxes = by_frame.get(i, [])
        src = f" · source frame {frames.source[i]}" if i < len(frames.source) else ""
        found = "; ".join(f"{b.label} [{b.x1:g}, {b.y1:g}, {b.x2:g}, {b.y2:g}]"
                          f"{'' if b.score is None else f' {b.score:.2f}'}"
                          f"{'' if b.line is None else f' (line {b.line})'}" for b in boxes)
        nav = []
        if i > 0:
            nav.append(f'<a href="#z{i - 1}">‹</a>')
        if i + 1 < len(frames.files):
            nav.append(f'<a href="#z{i + 1}">›</a>')
        out.append(
            f'<div class="zoom" id="z{i}"><a class="zbg" href="#f{i}" aria-label="close"></a><figure>'
            f'<a class="zclose" href="#f{i}">close ✕</a><div class="zimg"><img src="{esc(file)}" alt="frame {i}">'
            f'<svg viewBox="0 0 {frames.width} {frames.height}" preserveAspectRatio="none">'
            f"{_rects(boxes, view, labels=True)}</svg></div>"
            f"<figcaption>{' '.join(nav)} <b>frame {i}</b>{esc(src)}{' · ' + esc(found) if found else ''}"
            f"</figcaption></figure></div>")
    return "\n".join(out)


# --------------------------------------------------------------------------- timeline

def _timeline(view: TraceView, count: int) -> str:
    head = f"<h2>Timeline <small>frame ids 0–{count - 1} · one row per temporal result</small></h2>"
    ticks = "".join(f'<span class="tick{" major" if i % 4 == 0 else ""}" style="left:{100 * i / count:.4f}%">{i}</span>'
                    for i in range(count) if i % 2 == 0 or count <= 16)
    rows = [f'<div class="tl-row tl-head"><span></span><span class="tl-track">{ticks}</span><span></span></div>']
    for r in view.rows:
        rows.append(_row(r, count))
    if not view.rows:
        rows.append('<p class="muted">no call of this trace located anything in time</p>')
    return head + f'<div class="tl">{"".join(rows)}</div>'


def _row(r: Row, count: int) -> str:
    line = f'<a class="ln" href="#L{r.line}" title="program line {r.line}">L{r.line}</a>' if r.line is not None else ""
    bars = []
    for a, b in r.spans:
        left, width = 100 * a / count, 100 * (b - a + 1) / count
        tip = f"{r.label}: frame {a}" if a == b else f"{r.label}: frames {a}–{b}"
        bars.append(f'<span class="bar" style="left:{left:.4f}%;width:{width:.4f}%;background:{r.colour}" '
                    f'title="{esc(tip)}"></span>')
    if not r.spans:
        bars.append(f'<span class="tl-empty">{esc(r.empty_note or "nothing")}</span>')
    where = ranges_text([f for a, b in r.spans for f in range(a, b + 1)])
    return (f'<div class="tl-row kind-{esc(r.kind)}"><span class="tl-label" title="{esc(r.label)} · frames {esc(where)}">'
            f'{line}{esc(r.label)}</span><span class="tl-track">{"".join(bars)}</span>'
            f'<span class="tl-score">{esc(r.detail)}</span></div>')


# --------------------------------------------------------------------------- program

def _call(c: Call, choices: list[str], view: TraceView) -> str:
    chip = ""
    if c.name in ("detect", "find_object"):
        asked = c.arguments[1] if len(c.arguments) > 1 and isinstance(c.arguments[1], str) else None
        if asked in view.colours:
            chip = f'<span class="chip" style="background:{view.colours[asked]}"></span>'
    failed = " failed" if c.error is not None else ""
    return (f'<details class="call{failed}"><summary>{chip}<span class="sig">{esc(describe_call(c, choices))}</span>'
            f' → <span class="out">{esc(describe_output(c))}</span></summary>'
            f'<pre>{esc(full_json({"args": c.args, "kwargs": c.kwargs, "output": c.output, "error": c.error}))}</pre>'
            "</details>")


def _calls(calls: list[Call], choices: list[str], view: TraceView) -> str:
    shown = "".join(_call(c, choices, view) for c in calls[:MAX_CALLS_PER_LINE])
    rest = calls[MAX_CALLS_PER_LINE:]
    if rest:
        shown += (f'<details class="raw"><summary class="muted">+{len(rest)} more calls on this line</summary>'
                  f'{"".join(_call(c, choices, view) for c in rest)}</details>')
    return shown


def _program(t: TraceRecord, view: TraceView) -> str:
    sandbox = t.sandbox if isinstance(t.sandbox, dict) else {}
    error = sandbox.get("error") if isinstance(sandbox.get("error"), dict) else None
    error_line = error.get("line") if error and isinstance(error.get("line"), int) else None
    n_calls = len(view.calls)
    head = f"<h2>Program <small>{esc(t.planner)} planner · {n_calls} tool call{'s' if n_calls != 1 else ''}</small></h2>"
    if not t.program:
        why = t.error or t.failure or "no program"
        return head + f'<div class="note err">no program: {esc(why)}</div>'
    lines = t.program.splitlines()
    by_line: dict[int, list[Call]] = {}
    for c in view.calls:
        if c.line is not None and 1 <= c.line <= len(lines):
            by_line.setdefault(c.line, []).append(c)
    rows = []
    for n, text in enumerate(lines, 1):
        cls = "err" if n == error_line else "called" if n in by_line else ""
        rows.append(f'<tr class="{cls}" id="L{n}"><td class="n">{n}</td><td class="code">{esc(text) or " "}</td></tr>')
        if n in by_line:
            rows.append(f'<tr class="res"><td></td><td>{_calls(by_line[n], t.choices, view)}</td></tr>')
        if n == error_line and error is not None:
            rows.append(f'<tr class="res"><td></td><td><div class="errline">{esc(error.get("kind", "error"))}: '
                        f'{esc(error.get("message", ""))}</div></td></tr>')
    parts = [head, f'<table class="prog">{"".join(rows)}</table>']
    stray = [c for c in view.calls if c.line is None or not 1 <= c.line <= len(lines)]
    if stray:
        parts.append(f'<div class="result"><b>calls without a program line</b>{_calls(stray, t.choices, view)}</div>')
    if error is not None and error_line is None:
        parts.append(f'<div class="note err">{esc(error.get("kind", "error"))}: {esc(error.get("message", ""))}</div>')
    elif t.failure and error is None:
        parts.append(f'<div class="note err">{esc(t.failure)}: {esc(t.error or "")}</div>')
    if sandbox.get("ok"):
        parts.append(f'<div class="result">returned <b>{esc(short_json(sandbox.get("value"), 200))}</b></div>')
    stdout = sandbox.get("stdout")
    if isinstance(stdout, str) and stdout:
        parts.append(f'<details class="raw"><summary>printed output</summary><pre>{esc(stdout[:4000])}</pre></details>')
    return "".join(parts)


# --------------------------------------------------------------------------- rationale and provenance

def _grounded(text: str) -> str:
    """Escaped text with the frame and box references highlighted."""
    out, pos = [], 0
    for m in _GROUNDING.finditer(text):
        out.append(esc(text[pos:m.start()]))
        out.append(f'<span class="ground">{esc(m.group(0))}</span>')
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def _rationale(cot: CotRecord) -> str:
    how = f"converter: {cot.converter}" if cot.converter else "no converter ran"
    head = f"<h2>Rationale <small>{esc(how)}</small></h2>"
    if not cot.rationale:
        why = cot.error if cot.failure and cot.failure.startswith("convert") else cot.failure or "none"
        return head + f'<p class="muted">no rationale: {esc(why)}</p>'
    parts = [s.strip() for s in _SENTENCE.split(cot.rationale.strip()) if s.strip()]
    items = [f'<li class="{"concl" if i == len(parts) - 1 and len(parts) > 1 else ""}">{_grounded(s)}</li>'
             for i, s in enumerate(parts)]
    return head + f'<ol class="steps">{"".join(items)}</ol>'


def _provenance(t: TraceRecord, cot: CotRecord | None, frames: Frames) -> str:
    rows: list[tuple[str, str]] = [("planner", t.planner)]
    if t.tools:
        rows.append(("tools", ", ".join(f"{k}: {v}" for k, v in t.tools.items())))
    if t.provenance:
        rows.append(("trace", " · ".join(f"{k} {v}" for k, v in t.provenance.items())))
    if cot is not None and cot.provenance:
        rows.append(("CoT", " · ".join(f"{k} {v}" for k, v in cot.provenance.items())))
    if t.frames:
        rows.append(("source frames", _compact(t.frames)))
    elif frames.source:
        rows.append(("source frames", _compact(frames.source)))
    cells = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    return f'<h2>Provenance</h2><dl class="prov">{cells}</dl>'


def _compact(values: list[Any]) -> str:
    ints = [v for v in values if isinstance(v, int)]
    if len(ints) != len(values) or not ints:
        return short_json(values, 200)
    return f"{ints[0]}–{ints[-1]} ({len(ints)} frames)"
