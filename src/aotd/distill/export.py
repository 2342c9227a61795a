"""Training records in the formats people train with elsewhere.

* ``aotd``: our ``TrainRecord`` JSONL (what ``aotd distill train`` reads);
* ``llava``: LLaVA-NeXT conversation JSON (``video`` + ``conversations`` human/gpt, ``<video>``
  placeholder first in the human turn);
* ``llamafactory``: LLaMA-Factory sharegpt-style ``messages`` + ``videos``, with the
  ``dataset_info.json`` entry that registers it;
* ``hf``: a Hugging Face ``datasets`` dataset saved with ``save_to_disk``.

The video window (start/end seconds) travels in every format, because several datasets ask
questions about part of a video.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aotd.data.records import BadLine, TrainRecord, read_records
from aotd.errors import AotdError
from aotd.runner.jsonl import write_lines_atomic

FORMATS = ("aotd", "llava", "llamafactory", "hf")


def export(records: list[TrainRecord], out: Path, fmt: str) -> list[Path]:
    """Write ``records`` as ``fmt`` at ``out``; the paths written."""
    if fmt not in FORMATS:
        raise AotdError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "aotd":
        write_lines_atomic(out, (r.model_dump_json() for r in records))
        return [out]
    if fmt == "llava":
        _write_json(out, [_llava(r) for r in records])
        return [out]
    if fmt == "llamafactory":
        _write_json(out, [_llamafactory(r) for r in records])
        info = out.parent / "dataset_info.json"
        entry = {out.stem: {"file_name": out.name, "formatting": "sharegpt",
                            "columns": {"messages": "messages", "videos": "videos"},
                            "tags": {"role_tag": "role", "content_tag": "content",
                                     "user_tag": "user", "assistant_tag": "assistant"}}}
        existing = json.loads(info.read_text()) if info.is_file() else {}
        _write_json(info, {**existing, **entry})
        return [out, info]
    try:
        import datasets
    except ImportError:
        raise AotdError("--format hf needs the `datasets` package: pip install 'aotd[hf]'") from None
    rows = [r.model_dump() for r in records]
    columns = {k: [row[k] for row in rows] for k in TrainRecord.model_fields}
    datasets.Dataset.from_dict(columns).save_to_disk(str(out))
    return [out]


def _window(r: TrainRecord) -> dict[str, Any]:
    return {"start": r.start, "end": r.end} if r.start is not None or r.end is not None else {}


def _llava(r: TrainRecord) -> dict[str, Any]:
    return {"id": r.record_id, "video": r.video, **_window(r),
            "conversations": [{"from": "human", "value": "<video>\n" + r.prompt}, {"from": "gpt", "value": r.target}]}


def _llamafactory(r: TrainRecord) -> dict[str, Any]:
    return {"id": r.record_id, "videos": [r.video], **_window(r),
            "messages": [{"role": "user", "content": "<video>" + r.prompt}, {"role": "assistant", "content": r.target}]}


def _write_json(path: Path, data: Any) -> None:
    write_lines_atomic(path, [json.dumps(data, ensure_ascii=False, indent=1)])


def read_train_records(path: Path, bad: list[BadLine] | None = None) -> list[TrainRecord]:
    """The ``aotd``-format records of ``path`` (``data.records.read_records``), which must exist
    and hold at least one."""
    if not path.is_file():
        raise AotdError(f"{path}: training file not found (make it with `aotd distill build`)")
    records = read_records(path, TrainRecord, bad)
    if not records:
        raise AotdError(f"{path}: the training file is empty")
    return records
