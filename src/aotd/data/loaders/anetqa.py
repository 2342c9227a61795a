"""ANetQA (Yu et al., CVPR 2023; MILVLG/anetqa-code): open-ended questions on ActivityNet.

Each split is a JSON list, ``anetqa_<split>.json`` (in an ``anetqa/`` folder in the official
layout). A record holds ``qa_id`` (``v_m7cHlmcFk9Y#attrWhat#2``), ``question``, ``answer``
(absent in test), ``video_id``, ``question_type`` (one of 21 templates such as ``attrWhat``),
``attribute_type``, and for train/val ``frame_ids``, ``object_ids``, ``step`` and
``program`` (a string). The paper reports accuracy by structure, semantics and answer type;
each template's groups are added to ``extra`` as ``structural``, ``semantic`` and
``ans_type`` (the grouping of the official evaluation script ``eval_result.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aotd.data.schema import QASample

from ._common import (
    VIDEO_EXTS,
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

_FILE = re.compile(r"^anetqa_(?P<split>[A-Za-z]+)\.json$")
_KNOWN = {"qa_id", "question_id", "question", "answer", "video_id", "question_type"}

# question_type: (structural, semantic, answer type)
_GROUPS: dict[str, tuple[str, str, str]] = {
    "objWhat": ("query", "object", "open"),
    "objRelWhat": ("query", "object", "open"),
    "attrWhat": ("query", "attribute", "open"),
    "attrRelWhat": ("query", "attribute", "open"),
    "relWhat": ("query", "relationship", "open"),
    "objWhere": ("query", "relationship", "open"),
    "objRelWhere": ("query", "relationship", "open"),
    "objWhatChoose": ("choose", "object", "open"),
    "objRelWhatChoose": ("choose", "object", "open"),
    "attrWhatChoose": ("choose", "attribute", "open"),
    "attrRelWhatChoose": ("choose", "attribute", "open"),
    "attrsame": ("compare", "attribute", "open"),
    "attrcompare": ("compare", "attribute", "binary"),
    "actTime": ("compare", "action", "binary"),
    "actLongerVerify": ("compare", "action", "binary"),
    "actShorterVerify": ("compare", "action", "binary"),
    "actExist": ("verify", "action", "binary"),
    "objExist": ("verify", "object", "binary"),
    "objRelExist": ("verify", "relationship", "binary"),
    "andObjRelExist": ("logic", "relationship", "binary"),
    "xorObjRelExist": ("logic", "relationship", "binary"),
}


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Every question of ``path`` (an ``anetqa_<split>.json`` or a folder of them)."""
    files = find_files(path, _FILE, split=split, subdirs=("anetqa",), example="anetqa_val.json")
    videos = video_folder(path, video_root)
    collector = Collector()
    for file, file_split in files:
        records = read_json_of(file, list, "a JSON list of questions")
        for index, record in enumerate(records):
            where = _where(file, index, record)
            if not isinstance(record, dict):
                raise where.error("should be a JSON object (one question)")
            collector.add(make_sample(_sample(record, file_split, videos, where), where), where, "qa_id")
    return collector.finish(path)


def _where(file: Path, index: int, record: Any) -> Where:
    """Name a record by its qa_id, or by its list position (``[3]``, as jq writes it)."""
    qid = record.get("qa_id", record.get("question_id")) if isinstance(record, dict) else None
    return Where(file, qid if isinstance(qid, str) and qid.strip() else f"[{index}]")


def _sample(record: dict[str, Any], split: str, videos: Path | None, where: Where) -> dict[str, Any]:
    # ``qa_id`` as published; prediction files name the same id ``question_id``.
    id_field = "qa_id" if "qa_id" in record else "question_id"
    qtype = get(record, "question_type", "text", where)
    video_id = get(record, "video_id", "text", where)
    extra = extra_fields(record, _KNOWN)
    if qtype in _GROUPS:
        extra.update(zip(("structural", "semantic", "ans_type"), _GROUPS[qtype], strict=True))
    return {
        "sample_id": get(record, id_field, "text", where),
        "dataset": "anetqa",
        "split": split,
        "video": {"video_id": video_id, "path": video_file(videos, video_id, VIDEO_EXTS)},
        "question": get(record, "question", "text", where),
        "answer": get(record, "answer", "text", where, optional=True),
        "question_type": qtype,
        "open_ended": True,
        "extra": extra,
    }
