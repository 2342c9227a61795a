"""Perception Test (google-deepmind/perception_test): multiple-choice video QA.

``mc_question_<split>.json`` (train / valid / test, the split names kept as published) is an
object keyed by video id. A video holds ``metadata`` (``video_id``, ``split``, ``num_frames``,
``frame_rate``, ``resolution`` as [height, width], ...) and ``mc_question``, a list of
``{"id", "question", "options", "answer_id", "area", "reasoning", "tag"}``: three options,
``answer_id`` the right one's index (absent in test). The skill ``area`` (memory, abstraction,
physics, semantics; optional) is the question type; ``reasoning``, ``tag`` and the rest go to ``extra``. A
question is named ``<video_id>_<id>`` ("video_10909_0"). The full annotation files
(``all_<split>.json``) have the same shape with more keys per video, and read the same way when
pointed at directly. Videos are ``<video_id>.mp4`` in the video folder.
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

_MC_FILE = re.compile(r"^mc_question_(?P<split>[A-Za-z]+)\.json$")
_ANY_FILE = re.compile(r"^(?:mc_question|all)_(?P<split>[A-Za-z]+)\.json$")
_KNOWN = {"id", "question", "options", "answer_id", "area"}


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Every question of ``path`` (an ``mc_question_<split>.json`` or a folder of them)."""
    pattern = _ANY_FILE if path.is_file() else _MC_FILE
    files = find_files(path, pattern, split=split, example="mc_question_valid.json")
    videos = video_folder(path, video_root)
    collector = Collector()
    for file, file_split in files:
        annotations = read_json_of(file, dict, "a JSON object keyed by video id")
        for key, video in annotations.items():
            if not isinstance(video, dict):
                raise Where(file, key).error("should be a JSON object (one video's annotations)")
            info = _video(key, video, videos, Where(file, key))
            questions = get(video, "mc_question", "list", Where(file, key))
            for n, question in enumerate(questions):
                where = Where(file, f"{key}.mc_question[{n}]")
                if not isinstance(question, dict):
                    raise where.error("should be a JSON object (one question)")
                data = _sample(question, info, file_split, where)
                collector.add(make_sample(data, where), where, "id")
    return collector.finish(path)


def _video(key: str, video: dict[str, Any], videos: Path | None, where: Where) -> dict[str, Any]:
    """The video's known facts from ``metadata``, which must agree with the key it is filed under."""
    meta = get(video, "metadata", "dict", where, optional=True) or {}
    video_id = get(meta, "video_id", "text", where, optional=True, prefix="metadata.") or key
    if video_id != key:
        raise where.error(f"names video {video_id!r} but is filed under {key!r}", field="metadata.video_id")
    height, width = _resolution(meta, where)
    return {
        "video_id": video_id,
        "path": video_file(videos, video_id),
        "fps": get(meta, "frame_rate", "number", where, optional=True, prefix="metadata."),
        "num_frames": get(meta, "num_frames", "int", where, optional=True, prefix="metadata."),
        "width": width,
        "height": height,
    }


def _resolution(meta: dict[str, Any], where: Where) -> tuple[int | None, int | None]:
    raw = meta.get("resolution")
    if raw is None:
        return None, None
    valid = isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, int) and v > 0 for v in raw)
    if not valid:
        raise where.error(f"should be [height, width] in pixels, got {raw!r}", field="metadata.resolution")
    return raw[0], raw[1]


def _sample(question: dict[str, Any], video: dict[str, Any], split: str, where: Where) -> dict[str, Any]:
    qid = question.get("id")
    if not ((isinstance(qid, int) and not isinstance(qid, bool)) or (isinstance(qid, str) and qid.strip())):
        raise where.error(f"should be the question's id (an integer), got {qid!r}", field="id")
    options = get(question, "options", "list", where)
    if not options:
        raise where.error("is empty; a Perception Test question has options", field="options")
    for k, text in enumerate(options):
        if not isinstance(text, str) or not text.strip():
            raise where.error(f"should be a non-empty string, got {text!r}", field=f"options[{k}]")
    answer_id = get(question, "answer_id", "int", where, optional=True)
    if answer_id is not None and not 0 <= answer_id < len(options):
        raise where.error(f"answer_id {answer_id} is outside the {len(options)} options", field="answer_id")
    return {
        "sample_id": f"{video['video_id']}_{qid}",
        "dataset": "perception-test",
        "split": split,
        "video": video,
        "question": get(question, "question", "text", where),
        "choices": [{"choice_id": k, "text": text} for k, text in enumerate(options)],
        "answer": None if answer_id is None else options[answer_id],
        "answer_index": answer_id,
        "question_type": get(question, "area", "text", where, optional=True) or "",
        "extra": {"question_id": qid, **extra_fields(question, _KNOWN)},
    }
