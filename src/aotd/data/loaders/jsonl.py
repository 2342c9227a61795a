"""Generic JSON lines: one question per line, for data sets without a loader of their own.

A line is either a full ``QASample`` dump (``model_dump(mode="json")``, recognised by its
``video`` object) or a minimal record::

    {"id": "q1", "video": "clips/a.mp4", "question": "...", "choices": ["...", "..."],
     "answer": 1, "question_type": "...", "split": "val", "start": 0.0, "end": 4.5}

``id`` may be ``sample_id``; ``video`` is a file path (relative to the video folder, else to
the JSONL file) or a bare video id; ``answer`` is the text or an index into ``choices``;
without choices the question is open-ended. Other fields go to ``extra``. Blank lines are
skipped; every other line becomes a sample or raises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aotd.data.schema import QASample
from aotd.errors import DataError

from ._common import (
    VIDEO_EXTS,
    Collector,
    Where,
    extra_fields,
    get,
    make_sample,
    parse_json,
    read_text,
    video_file,
    video_folder,
)

_MINIMAL = {"id", "sample_id", "video", "question", "choices", "answer", "question_type", "split", "start", "end"}


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """The samples of one ``.jsonl`` file; with ``split``, only that split's (unsplit lines take it)."""
    if path.is_dir():
        raise DataError("is a folder; the jsonl format reads one .jsonl file", path=path)
    videos = video_folder(path, video_root)
    collector = Collector()
    # split on "\n" only: str.splitlines also breaks at U+2028 and friends, legal inside JSON strings
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        where = Where(path, number)
        record = parse_json(line, where, position="column {col}")
        if not isinstance(record, dict):
            raise where.error("should be a JSON object (one question)")
        full = isinstance(record.get("video"), dict)
        data = record if full else _minimal(record, split, path, videos, where)
        sample = make_sample(data, where)
        if split in (None, sample.split):
            collector.add(sample, where, "sample_id" if full or "sample_id" in record else "id")
    return collector.finish(path)


def _minimal(
    record: dict[str, Any], split: str | None, path: Path, videos: Path | None, where: Where
) -> dict[str, Any]:
    choices = _choices(record, where)
    answer, index = _answer(record.get("answer"), choices, where)
    id_field = "sample_id" if "sample_id" in record else "id"
    return {
        "sample_id": get(record, id_field, "text", where),
        "dataset": path.stem,
        "split": get(record, "split", "text", where, optional=True) or split or "train",
        "video": _video(get(record, "video", "text", where), path, videos),
        "question": get(record, "question", "text", where),
        "choices": [{"choice_id": k, "text": text} for k, text in enumerate(choices)],
        "answer": answer,
        "answer_index": index,
        "question_type": get(record, "question_type", "text", where, optional=True) or "",
        "start": get(record, "start", "number", where, optional=True),
        "end": get(record, "end", "number", where, optional=True),
        "open_ended": not choices,
        "extra": extra_fields(record, _MINIMAL),
    }


def _choices(record: dict[str, Any], where: Where) -> list[str]:
    choices = get(record, "choices", "list", where, optional=True) or []
    for n, text in enumerate(choices):
        if not isinstance(text, str) or not text.strip():
            raise where.error(f"should be a non-empty string, got {json.dumps(text)}", field=f"choices[{n}]")
    return choices


def _answer(raw: Any, choices: list[str], where: Where) -> tuple[str | None, int | None]:
    """(text, index) from an answer given as text or as an index into the choices."""
    if raw is None:
        return None, None
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 0 <= raw < len(choices):
            raise where.error(f"answer index {raw} is outside the {len(choices)} choices", field="answer")
        return choices[raw], raw
    if not isinstance(raw, str) or not raw.strip():
        raise where.error(
            f"should be the answer text or an integer index into choices, got {json.dumps(raw)}", field="answer"
        )
    if not choices:
        return raw, None
    hits = [i for i, text in enumerate(choices) if text == raw]
    if len(hits) != 1:
        problem = "matches none" if not hits else "matches more than one"
        raise where.error(f"answer {raw!r} {problem} of the choices", field="answer", fix="give the index instead")
    return raw, hits[0]


def _video(value: str, path: Path, videos: Path | None) -> dict[str, Any]:
    """A path-like value names the file; anything else is an id looked up in the video folder."""
    as_path = Path(value)
    if as_path.suffix.lower() in VIDEO_EXTS or "/" in value:
        base = videos or path.parent
        return {"video_id": as_path.stem, "path": as_path if as_path.is_absolute() else base / as_path}
    return {"video_id": value, "path": video_file(videos, value)}
