"""NExT-QA (doc-doc/NExT-QA, doc-doc/NExT-OE): one CSV per split, ``train/val/test.csv``.

Multiple choice: ``video,frame_count,width,height,question,answer,qid,type,a0..a4`` with
``answer`` the index of the right option. Open-ended (NExT-OE): the same columns up to
``type``, ``answer`` being text; extra reference answers, where given, sit beside the CSV in
``add_reference_answer_<split>.json`` as ``{video: {qid: answer}}``. A question is named
``<video>_<qid>`` (as NExT-QA's own loaders key it). Type codes start with the family:
C(ausal), T(emporal), D(escriptive).

Videos come from VidOR; ``map_vid_vidorID.json`` (beside the CSV or in the video folder)
maps a video id to its VidOR path, e.g. ``"0000/2440175990"`` for ``<videos>/0000/2440175990.mp4``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aotd.data.schema import QASample
from aotd.errors import DataError

from ._common import (
    Collector,
    Where,
    cell_int,
    cell_text,
    find_files,
    make_sample,
    read_csv,
    read_json,
    video_file,
    video_folder,
)

_FILE = re.compile(r"^(?P<split>train|val|test)\.csv$")
_TYPES = ("CW", "CH", "TN", "TC", "TP", "DL", "DC", "DO", "DB")
_BASE_COLUMNS = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type")
_OPTIONS = tuple(f"a{k}" for k in range(5))
_VIDOR_MAP = "map_vid_vidorID.json"

VideoMap = dict[str, str] | None
References = dict[str, dict[str, str]]


def load_mc(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Multiple-choice NExT-QA: ``path`` is one split's CSV or the folder of them."""
    return _load(path, split, video_root, open_ended=False)


def load_oe(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Open-ended NExT-OE: ``path`` is one split's CSV or the folder of them."""
    return _load(path, split, video_root, open_ended=True)


def _load(path: Path, split: str | None, video_root: Path | None, *, open_ended: bool) -> list[QASample]:
    files = find_files(path, _FILE, split=split, subdirs=("nextqa",), example="val.csv")
    videos = video_folder(path, video_root)
    columns = _BASE_COLUMNS if open_ended else _BASE_COLUMNS + _OPTIONS
    collector = Collector()
    for file, file_split in files:
        vidor = _vidor_map(file, video_root)
        refs = _references(file.parent / f"add_reference_answer_{file_split}.json") if open_ended else {}
        for line, row in read_csv(file, columns):
            where = Where(file, line)
            data = _common_fields(row, file_split, videos, vidor, where)
            data.update(_open(row, data, refs) if open_ended else _multiple_choice(row, where))
            collector.add(make_sample(data, where), where, "qid")
    return collector.finish(path)


def _common_fields(
    row: dict[str, str], split: str, videos: Path | None, vidor: VideoMap, where: Where
) -> dict[str, Any]:
    video, qid, qtype = (cell_text(row, c, where) for c in ("video", "qid", "type"))
    if qtype not in _TYPES:
        raise where.error(
            f"unknown question type {qtype!r}", field="type", fix=f"NExT-QA types are {', '.join(_TYPES)}"
        )
    extra: dict[str, Any] = {"qid": qid, "family": qtype[0]}
    stem = video
    if vidor is not None:
        if video not in vidor:
            raise where.error(f"video {video} is not in {_VIDOR_MAP}", field="video")
        stem = extra["vidor_path"] = vidor[video]
    return {
        "sample_id": f"{video}_{qid}",
        "dataset": "nextqa",
        "split": split,
        "video": {
            "video_id": video,
            "path": video_file(videos, stem),
            "num_frames": cell_int(row, "frame_count", where),
            "width": cell_int(row, "width", where, minimum=1),
            "height": cell_int(row, "height", where, minimum=1),
        },
        "question": cell_text(row, "question", where),
        "question_type": qtype,
        "extra": extra,
    }


def _multiple_choice(row: dict[str, str], where: Where) -> dict[str, Any]:
    """Five options; an empty ``answer`` cell is an unlabelled question, anything else an index."""
    choices = [{"choice_id": k, "text": cell_text(row, name, where)} for k, name in enumerate(_OPTIONS)]
    out: dict[str, Any] = {"choices": choices}
    if row["answer"].strip():
        index = cell_int(row, "answer", where)
        if index >= len(choices):
            raise where.error(f"answer index {index} is outside the options a0..a4", field="answer")
        out.update(answer=choices[index]["text"], answer_index=index)
    return out


def _open(row: dict[str, str], data: dict[str, Any], refs: References) -> dict[str, Any]:
    """Free-text answer, plus NExT-OE's extra reference answer where one exists."""
    extra_answer = refs.get(data["video"]["video_id"], {}).get(data["extra"]["qid"])
    extra = data["extra"] if extra_answer is None else {**data["extra"], "additional_answers": [extra_answer]}
    return {"answer": row["answer"].strip() or None, "open_ended": True, "extra": extra}


def _vidor_map(csv_file: Path, video_root: Path | None) -> VideoMap:
    """NExT-QA's video-id -> VidOR path map, from beside the CSV or the video folder, if present."""
    folders = [csv_file.parent] + ([video_root] if video_root else [])
    found = next((f / _VIDOR_MAP for f in folders if (f / _VIDOR_MAP).is_file()), None)
    if found is None:
        return None
    mapping = read_json(found)
    if not isinstance(mapping, dict) or not all(isinstance(v, str) and v for v in mapping.values()):
        raise DataError('should map video ids to VidOR paths, like {"2440175990": "0000/2440175990"}', path=found)
    return mapping


def _references(path: Path) -> References:
    if not path.is_file():
        return {}
    refs: Any = read_json(path)
    valid = isinstance(refs, dict) and all(
        isinstance(qs, dict) and all(isinstance(a, str) for a in qs.values()) for qs in refs.values()
    )
    if not valid:
        raise DataError('should map each video to {qid: answer}, like {"5772591393": {"2": "home"}}', path=path)
    return dict(refs)
