"""Video-ChatGPT's quantitative benchmark (mbzuai-oryx/Video-ChatGPT) on ActivityNet test videos.

Each evaluation is a JSON list in ``Benchmarking_QA/``: ``generic_qa.json`` (scored for
correctness, detail and context), ``temporal_qa.json`` and ``consistency_qa.json``. A record
holds ``video_name``, ``Q`` and ``A``; a consistency record asks one thing twice, ``Q1`` and
``Q2``, against one answer ``A``, and becomes two questions (``..._q1``, ``..._q2``) sharing
``extra["pair"]``, so that their answers can be compared (``extra["pair_question"]`` is 1 or 2).
The file stem is the question type; the files carry no ids, so a question is named
``<stem>_<position>``. All are open-ended, one test split. lmms-eval's copy
(lmms-lab/VideoChatGPT) spells the fields ``question``, ``answer``, ``question_1`` and
``question_2`` (one consistency question a row, the other written as the string "None"); both
spellings are read. Videos are ``<video_name>`` + .mp4/.mkv/.mov/.avi in ``Test_Videos/`` (as
released) or ``videos/`` beside or above the files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aotd.data.schema import QASample

from ._bench import bench_files, bench_video_folder, first_video, single_split
from ._common import Collector, Where, extra_fields, get, make_sample, read_json_of

_FILE = re.compile(r"^\w+_qa\.json$")
_VIDEO_EXTS = (".mp4", ".mkv", ".mov", ".avi", ".MP4")
# the release's spelling, then lmms-eval's
_QUESTION, _ANSWER = ("Q", "question"), ("A", "answer")
_PAIR = (("Q1", "question_1"), ("Q2", "question_2"))
_NONE_AS_ABSENT = {"question_1", "question_2"}
_KNOWN = {"video_name", *_QUESTION, *_ANSWER, *(name for names in _PAIR for name in names)}


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Every question of ``path``: one benchmark file, or the folder of them (or its ``Benchmarking_QA/``)."""
    files = bench_files(path, _FILE, subdirs=("Benchmarking_QA",), example="generic_qa.json")
    the_split = single_split(path, split, "the Video-ChatGPT benchmark")
    videos = bench_video_folder(files[0].parent, video_root, ("Test_Videos",))
    collector = Collector()
    for file in files:
        records = read_json_of(file, list, "a JSON list of questions")
        for index, record in enumerate(records):
            where = Where(file, f"[{index}]")
            if not isinstance(record, dict):
                raise where.error("should be a JSON object (one question)")
            for data in _samples(record, f"{file.stem}_{index}", file.stem, the_split, videos, where):
                collector.add(make_sample(data, where), where, "question_type")
    return collector.finish(path)


def _samples(
    record: dict[str, Any], name: str, stem: str, split: str, videos: Path | None, where: Where
) -> list[dict[str, Any]]:
    """One question, or the asked-twice pair of a consistency record."""
    video = get(record, "video_name", "text", where)
    extra = extra_fields(record, _KNOWN)
    common = {
        "dataset": "videochatgpt",
        "split": split,
        "video": {"video_id": video, "path": first_video(videos, [video], _VIDEO_EXTS)},
        "answer": _field(record, _ANSWER, where, optional=True),
        "question_type": stem,
        "open_ended": True,
        "extra": extra,
    }
    asked = [(n, q) for n, names in enumerate(_PAIR, 1) if (q := _field(record, names, where, optional=True))]
    if not asked:
        return [{**common, "sample_id": name, "question": _field(record, _QUESTION, where)}]
    return [
        {**common, "sample_id": f"{name}_q{n}", "question": q, "extra": {**extra, "pair": name, "pair_question": n}}
        for n, q in asked
    ]


def _field(record: dict[str, Any], names: tuple[str, ...], where: Where, *, optional: bool = False) -> str | None:
    """The first spelling present; lmms-eval writes the absent one of a consistency pair as "None"."""
    present = [n for n in names if record.get(n) is not None and not (n in _NONE_AS_ABSENT and record[n] == "None")]
    if not present:
        if optional:
            return None
        raise where.error("is missing", field=names[0])
    return get(record, present[0], "text", where)
