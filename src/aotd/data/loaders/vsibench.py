"""VSI-Bench (nyu-visionx/VSI-Bench): spatial questions on indoor scan videos, one test split.

Rows (the Hugging Face split as parquet, JSON or JSON lines) hold ``id``, ``dataset``
(arkitscenes / scannet / scannetpp), ``scene_name``, ``question_type``, ``question``,
``options`` and ``ground_truth``. With options (``["A. chair", ...]``: relative direction and
distance, route planning, appearance order) a question is multiple choice and ``ground_truth``
the right option's letter (its text is accepted too). Without them (``options`` null or absent:
counting, sizes, distances) it is open-ended and ``ground_truth`` is a number, written as text
("3", "1.7") or as a JSON number; the answer keeps it as text and ``extra["answer_value"]`` as a
float, for mean-relative-accuracy scoring. A question is named by its ``id``; a folder's row
files are read as one set, so two releases side by side (full and debiased) raise on repeated
ids: point at one file then.

Videos are ``<dataset>/<scene_name>.mp4`` under the video folder: ``video_root``, else
``videos/`` beside or above the rows, else the rows' own folder when it holds the dataset
folders (as the Hugging Face repository unpacks its zips).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aotd.data.schema import QASample

from ._bench import (
    ROW_FILE,
    answer_index,
    bench_files,
    bench_video_folder,
    lettered_options,
    read_rows,
    single_split,
)
from ._common import Collector, Where, extra_fields, get, make_sample

SOURCES = ("arkitscenes", "scannet", "scannetpp")
_KNOWN = {"id", "dataset", "scene_name", "question_type", "question", "options", "ground_truth"}


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Every question of ``path``: a row file, or the folder of them."""
    files = bench_files(path, ROW_FILE, example="test.jsonl or test-00000-of-00001.parquet")
    the_split = single_split(path, split, "VSI-Bench")
    videos = _videos(files[0].parent, video_root)
    collector = Collector()
    for file in files:
        for label, record in read_rows(file):
            where = Where(file, label)
            if not isinstance(record, dict):
                raise where.error("should be a JSON object (one question)")
            collector.add(make_sample(_sample(record, the_split, videos, where), where), where, "id")
    return collector.finish(path)


def _videos(base: Path, video_root: Path | None) -> Path | None:
    found = bench_video_folder(base, video_root, ())
    if found is None and any((base / source).is_dir() for source in SOURCES):
        return base
    return found


def _sample(record: dict[str, Any], split: str, videos: Path | None, where: Where) -> dict[str, Any]:
    qid = record.get("id")
    if not ((isinstance(qid, int) and not isinstance(qid, bool)) or (isinstance(qid, str) and qid.strip())):
        raise where.error(f"should be the question's id, got {qid!r}", field="id")
    source = get(record, "dataset", "text", where)
    scene = get(record, "scene_name", "text", where)
    raw_options = record.get("options")
    options = [] if raw_options in (None, []) else lettered_options(raw_options, where, "options")
    answer, index, value = _ground_truth(record.get("ground_truth"), options, where)
    extra = extra_fields(record, _KNOWN)
    if value is not None:
        extra["answer_value"] = value
    return {
        "sample_id": str(qid),
        "dataset": "vsibench",
        "split": split,
        "video": {
            "video_id": f"{source}/{scene}",
            "path": None if videos is None else videos / source / f"{scene}.mp4",
        },
        "question": get(record, "question", "text", where),
        "choices": [{"choice_id": k, "text": text} for k, text in enumerate(options)],
        "answer": answer,
        "answer_index": index,
        "question_type": get(record, "question_type", "text", where),
        "open_ended": not options,
        "extra": {"source": source, "scene_name": scene, **extra},
    }


def _ground_truth(raw: Any, options: list[str], where: Where) -> tuple[str | None, int | None, float | None]:
    """(answer text, option index, numeric value): a letter with options, a number without."""
    if raw is None:
        return None, None, None
    if options:
        index = answer_index(raw, options, where, "ground_truth")
        return options[index], index, None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value, text = float(raw), str(raw)
    elif isinstance(raw, str) and raw.strip():
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            value = math.nan
    else:
        value, text = math.nan, repr(raw)
    if not math.isfinite(value):
        raise where.error(
            f"should be a number for a question without options, got {text!r}",
            field="ground_truth",
            fix="numerical-answer questions are scored by relative accuracy against a number",
        )
    return text, None, value
