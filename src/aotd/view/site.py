"""The static site: ``index.html`` and ``samples/<name>.html`` (+ ``samples/<name>/NN.jpg``).

Pages link to each other and to their thumbnails by relative paths, so the folder works over
file:// and after being moved. The same records give the same bytes. A problem of one record
(a torn JSONL line, a record that does not validate, a video that cannot be read) is reported
in the index and costs only that record.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from aotd.data.records import BadLine, CotRecord, TraceRecord, Verdict, numbered_records
from aotd.data.schema import QASample
from aotd.errors import AotdError
from aotd.view.frames import Frames, load_frames
from aotd.view.html import badge, esc, mark, page
from aotd.view.page import SamplePage, rejection, render, status

MAX_NAME = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RESERVED = {"con", "prn", "aux", "nul", "index", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


@dataclass
class Entry:
    trace: TraceRecord
    cot: CotRecord | None
    line: int


def write_site(records_path: Path, out: Path, *, data: Path | None = None, fmt: str = "star",
               video_root: Path | None = None, limit: int | None = None, bad: list[BadLine] | None = None) -> Path:
    """Write out/index.html and out/samples/<safe sample id>.html (+ thumbnails); return the index path.

    A bad line is skipped, listed on the index and added to ``bad`` (the terminal says so too)."""
    records_path, out = Path(records_path), Path(out)
    if not records_path.is_file():
        raise AotdError(f"{records_path}: records file not found (give the JSONL written by `aotd agent` or `aotd cot`)")
    if data is not None and not Path(data).exists():
        raise AotdError(f"{data}: dataset not found (give the folder or file the records were made from, or leave "
                        "--data out to view without frames)")
    entries, skipped = read_entries(records_path, limit)
    if bad is not None:
        bad.extend(skipped)
    samples, missing = _samples(data, fmt, video_root)
    names = page_names([e.trace.sample_id for e in entries])
    folder = out / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, entry in enumerate(entries):
        name = names[i]
        where = f"{records_path.name}:{entry.line}"
        try:
            frames = load_frames(samples.get(entry.trace.sample_id) if samples is not None else None,
                                 folder / name, name, expected=entry.trace.frames or None, missing=missing)
            text = render(SamplePage(entry.trace, entry.cot, frames, where,
                                     prev=f"{names[i - 1]}.html" if i > 0 else None,
                                     next=f"{names[i + 1]}.html" if i + 1 < len(entries) else None))
            problem = None
        except Exception as exc:  # noqa: BLE001 - one odd record must not cost the whole site
            problem = f"page failed: {type(exc).__name__}: {exc}"
            frames = Frames(note=problem)
            text = page(entry.trace.sample_id, f'<div class="wrap"><p><a href="../index.html">← all samples</a></p>'
                                               f"<h1>{esc(entry.trace.sample_id)}</h1>"
                                               f'<div class="note err">{esc(problem)}</div></div>')
        _write(folder / f"{name}.html", text)
        rows.append((entry, name, frames, problem))
    index = out / "index.html"
    _write(index, _index(records_path, rows, skipped, missing))
    return index


def read_entries(path: Path, limit: int | None = None) -> tuple[list[Entry], list[BadLine]]:
    """CoT records (those with a ``trace``) and bare trace records, at most ``limit``; bad lines skipped."""
    bad: list[BadLine] = []
    records = numbered_records(path, lambda raw: CotRecord if "trace" in raw else TraceRecord, bad, limit=limit)
    entries = [Entry(r.trace, r, n) if isinstance(r, CotRecord) else Entry(r, None, n) for n, r in records]
    return entries, bad


def page_names(ids: list[str]) -> list[str]:
    """A file name (no extension) per sample id: deterministic, safe, distinct even case-folded.

    Ids made of ``[A-Za-z0-9._-]`` keep their name; others get their unsafe characters replaced
    and a hash of the id appended, so ``a/b`` and ``a_b`` stay apart. A name that still meets
    another (case-insensitive file systems, the same id twice) gets a numbered suffix.
    """
    names, seen = [], set()
    for sample_id in ids:
        base = _safe(sample_id)
        name, k = base, 2
        while name.casefold() in seen:
            name, k = f"{base}~{k}", k + 1
        seen.add(name.casefold())
        names.append(name)
    return names


def _safe(sample_id: str) -> str:
    clean = _UNSAFE.sub("_", sample_id)[:MAX_NAME]
    clean = "_" + clean[1:] if clean.startswith((".", "-")) else clean
    if clean and clean == sample_id and clean.split(".")[0].casefold() not in _RESERVED and "~" not in sample_id:
        return clean
    digest = hashlib.blake2b(sample_id.encode("utf-8", "surrogatepass"), digest_size=5).hexdigest()
    return f"{clean or 'sample'}~{digest}"


def _samples(data: Path | None, fmt: str, video_root: Path | None) -> tuple[dict[str, QASample] | None, str | None]:
    """The dataset's samples by id, or None and why there are no frames."""
    if data is None:
        return None, "no dataset given (pass --data to see the frames)"
    from aotd.data.loaders import load_dataset

    try:
        ds = load_dataset(fmt, data, video_root=video_root)
    except AotdError as exc:
        return None, f"the dataset could not be read: {exc}"
    return {s.sample_id: s for s in ds.samples}, None


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


# --------------------------------------------------------------------------- index

def _index(path: Path, rows: list[tuple[Entry, str, Frames, str | None]], skipped: list[BadLine],
           missing: str | None) -> str:
    n = len(rows)
    cots = [e.cot for e, *_ in rows if e.cot is not None]
    traces = [e.trace for e, *_ in rows]
    failures = Counter(t.failure for t in traces if t.failure)
    rejected = Counter(_reason(c) for c in cots if not c.kept)
    counts = [(n, "records"), (sum(t.correct is True for t in traces), "correct"),
              (sum(bool(t.failure) for t in traces), "failed traces")]
    if cots:
        counts.append((sum(c.kept for c in cots), "CoTs kept"))
    counts.append((len(skipped), "lines skipped"))
    head = [f'<nav class="topnav"><b>aotd trace viewer</b><span class="sp"></span><span>{esc(path.name)}</span></nav>',
            '<div class="wrap">',
            f'<h1 style="margin-top:14px">{esc(path.name)}</h1>',
            '<div class="counts">' + "".join(f'<div class="count"><b>{v}</b><span>{esc(k)}</span></div>'
                                             for v, k in counts) + "</div>"]
    for title, counter in (("trace failures", failures), ("rejected, by reason", rejected)):
        if counter:
            items = ", ".join(f"{esc(k)} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
            head.append(f'<p><span class="muted">{title}:</span> {items}</p>')
    if missing:
        head.append(f'<div class="note">frames unavailable: {esc(missing)}</div>')
    no_frames = sum(1 for _, _, f, _ in rows if not f.available)
    if no_frames and not missing:
        head.append(f'<div class="note">{no_frames} of {n} samples have no frames (see their pages)</div>')
    broken = [(e, name, problem) for e, name, _, problem in rows if problem]
    for e, name, problem in broken:
        head.append(f'<div class="note err"><a href="samples/{esc(name)}.html">{esc(e.trace.sample_id)}</a>: '
                    f"{esc(problem)}</div>")
    if skipped:
        items = "".join(f"<li>{esc(f'{b.path.name}:{b.line}: {b.reason}')}</li>" for b in skipped)
        head.append(f'<div class="note err" id="skipped"><b>{len(skipped)} line{"s" if len(skipped) != 1 else ""} '
                    f"skipped</b><ul>{items}</ul></div>")
    cols = ["#", "sample", "type", "question", "predicted", "correct"]
    if cots:
        cols += ["(i) answer", "(ii) quality", "kept"]
    cols.append("note")
    table = [f'<table class="index"><thead><tr>{"".join(f"<th>{esc(c)}</th>" for c in cols)}</tr></thead><tbody>']
    for i, (e, name, _frames, problem) in enumerate(rows, 1):
        t, c = e.trace, e.cot
        q = t.question if len(t.question) <= 90 else t.question[:89] + "…"
        pred = "–" if t.prediction is None else str(t.prediction)
        first = status(t, None)[0]
        cells = [str(i), f'<a href="samples/{esc(name)}.html">{esc(t.sample_id)}</a>', esc(t.question_type or ""),
                 f'<span title="{esc(t.question)}">{esc(q)}</span>', esc(pred[:60]), badge(first[0], first[1], first[2])]
        if cots:
            if c is None:
                cells += ["", "", ""]
            else:
                cells += [_verdict_cell(c.answer), _verdict_cell(c.quality),
                          badge("kept", "ok") if c.kept else badge("rejected", "bad")]
        note = problem or (rejection(c) if c is not None and not c.kept else t.error) or ""
        cells.append(f'<span class="muted">{esc(note[:120])}</span>')
        table.append("<tr>" + "".join(f"<td{' class=q' if j == 3 else ''}>{x}</td>" for j, x in enumerate(cells))
                     + "</tr>")
    table.append("</tbody></table>")
    if not rows:
        table = ['<p class="muted">no records to show</p>']
    return page(f"{path.name} — aotd traces", "\n".join(head + table + ["</div>"]))


def _verdict_cell(v: Verdict | None) -> str:
    if v is None:
        return badge("–", "na")
    kind = {True: "ok", False: "bad", None: "na"}[v.passed]
    return badge(mark(v.passed), kind, v.reason)


def _reason(c: CotRecord) -> str:
    if c.failure:
        return c.failure
    if c.answer is not None and c.answer.passed is False:
        return "answer:wrong"
    if c.quality is not None and c.quality.passed is False:
        return f"quality:{(c.quality.reason or 'failed').split(',')[0].split(':')[0].strip()[:30]}"
    return "other"
