"""AGQA (Grunde-McLaughlin et al., CVPR 2021): open-ended questions on Charades videos.

The balanced sets ship as one JSON object per split (``train_balanced.txt``,
``test_balanced.txt``; some copies end in ``.json``) keyed by question id. A question holds
``question``, ``answer``, ``video_id``, ``ans_type`` (open / binary), ``structural`` (query,
verify, logic, choose, compare: AGQA's reasoning structure, reported per type), ``semantic``,
``global``, ``local``, ``steps``, ``program`` (a string) and ``sg_grounding``; the test split
adds generalisation flags. Everything but the text, answer, video and structure goes to
``extra`` untouched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aotd.data.schema import QASample

from ._common import (
    Collector,
    Where,
    extra_fields,
    find_files,
    get,
    make_sample,
    read_json_of,
    video_file,
    video_folder,
)

_FILE = re.compile(r"^(?P<split>[A-Za-z]+)_balanced\.(?:txt|json)$")
_STRUCTURAL = ("query", "verify", "logic", "choose", "compare")
_ANSWER_TYPES = ("open", "binary")
_KNOWN = {"question", "answer", "video_id", "structural"}


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Every question of ``path`` (a ``<split>_balanced.txt`` or a folder of them)."""
    files = find_files(path, _FILE, split=split, subdirs=("AGQA_balanced",), example="test_balanced.txt")
    videos = video_folder(path, video_root)
    collector = Collector()
    for file, file_split in files:
        questions = read_json_of(file, dict, "a JSON object keyed by question id")
        for qid, record in questions.items():
            where = Where(file, qid)
            if not isinstance(record, dict):
                raise where.error("should be a JSON object (one question)")
            collector.add(make_sample(_sample(qid, record, file_split, videos, where), where), where, "question id")
    return collector.finish(path)


def _sample(qid: str, record: dict[str, Any], split: str, videos: Path | None, where: Where) -> dict[str, Any]:
    structural = get(record, "structural", "text", where)
    if structural not in _STRUCTURAL:
        raise where.error(
            f"unknown structural type {structural!r}", field="structural", fix=f"AGQA's are {', '.join(_STRUCTURAL)}"
        )
    answer_type = get(record, "ans_type", "text", where, optional=True)
    if answer_type is not None and answer_type not in _ANSWER_TYPES:
        raise where.error(f"should be one of {', '.join(_ANSWER_TYPES)}, got {answer_type!r}", field="ans_type")
    video_id = get(record, "video_id", "text", where)
    return {
        "sample_id": qid,
        "dataset": "agqa",
        "split": split,
        "video": {"video_id": video_id, "path": video_file(videos, video_id)},
        "question": get(record, "question", "text", where),
        "answer": get(record, "answer", "text", where, optional=True),
        "question_type": structural,
        "open_ended": True,
        "extra": extra_fields(record, _KNOWN),
    }
