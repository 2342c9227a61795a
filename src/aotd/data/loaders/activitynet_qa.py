"""ActivityNet-QA (MILVLG/activitynet-qa): open-ended questions on ActivityNet videos.

Each split is two JSON lists (in ``dataset/`` in the official layout): ``<split>_q.json`` holds
``{"video_name", "question", "question_id"}`` and ``<split>_a.json`` holds ``{"answer", "type",
"question_id"}``. ``video_name`` is the bare YouTube id ("1QIUV7WYKXg"), ``question_id`` is
``v_<video_name>_<n>``. ``type`` is an integer code (a digit string is accepted too): 0 motion,
1 spatial, 2 temporal (the question types), 3-8 yes_no, color, object, location, number, other
(the answer types of the "free" questions); its name is the question type and the code stays in
``extra["type"]``. Questions and answers are paired by ``question_id``: an answer without a
question, or a question missing from an answer file, raises; without an answer file the split is
unlabelled. Rows that already carry ``answer``/``type`` (lmms-eval's merged copy) are read as
they are. Videos are ``v_<video_name>`` (or ``<video_name>``) + .mp4/.webm/.mkv.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aotd.data.schema import QASample
from aotd.errors import DataError

from ._bench import first_video, record_name
from ._common import Collector, Where, extra_fields, find_files, get, make_sample, read_json_of, video_folder

_FILE = re.compile(r"^(?P<split>[A-Za-z]+)_q\.json$")
_ANSWER_FILE = re.compile(r"^[A-Za-z]+_a\.json$")
TYPES = ("motion", "spatial", "temporal", "yes_no", "color", "object", "location", "number", "other")
_VIDEO_EXTS = (".mp4", ".webm", ".mkv")
_KNOWN = {"video_name", "question", "question_id", "answer", "type"}

Answer = tuple[dict[str, Any], Where]


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Every question of ``path`` (a ``<split>_q.json`` or a folder of them), with its answer."""
    if path.is_file() and _ANSWER_FILE.match(path.name):
        raise DataError("is an answer file", path=path, fix="point at the matching _q.json file or at its folder")
    files = find_files(path, _FILE, split=split, subdirs=("dataset",), example="test_q.json")
    videos = video_folder(path, video_root)
    collector = Collector()
    for file, file_split in files:
        answer_file = file.with_name(file.name.removesuffix("_q.json") + "_a.json")
        has_answers = file.name.endswith("_q.json") and answer_file.is_file()
        answers = _answers(answer_file) if has_answers else None
        for where, record in _records(file):
            answer = _answer_for(record, answers, answer_file, where)
            data = _sample(record, answer, file_split, videos, where)
            collector.add(make_sample(data, where), where, "question_id")
        if answers:
            qid, (_, where) = next(iter(answers.items()))
            raise where.error(f"answers question {qid!r}, which is not in {file.name}", field="question_id")
    return collector.finish(path)


def _records(file: Path) -> list[tuple[Where, dict[str, Any]]]:
    records = read_json_of(file, list, "a JSON list of records")
    out = []
    for index, record in enumerate(records):
        where = Where(file, record_name(f"[{index}]", record, "question_id"))
        if not isinstance(record, dict):
            raise where.error("should be a JSON object")
        out.append((where, record))
    return out


def _answers(file: Path) -> dict[str, Answer]:
    """Answers by question id; a repeated id would hide one of the answers, so it raises."""
    out: dict[str, Answer] = {}
    for where, record in _records(file):
        qid = get(record, "question_id", "text", where)
        if qid in out:
            raise where.error(f"question {qid!r} is answered twice", field="question_id", fix="keep one answer")
        out[qid] = (record, where)
    return out


def _answer_for(record: dict[str, Any], answers: dict[str, Answer] | None, answer_file: Path, where: Where) -> Answer:
    """The question's answer record (taken out of ``answers``), or the question itself when it holds one."""
    if answers is None:
        return record, where
    qid = get(record, "question_id", "text", where)
    if qid not in answers:
        raise where.error(f"has no answer in {answer_file.name}", field="question_id", fix="every question needs one")
    return answers.pop(qid)


def _sample(
    record: dict[str, Any], answer: Answer, split: str, videos: Path | None, where: Where
) -> dict[str, Any]:
    qid = get(record, "question_id", "text", where)
    name = get(record, "video_name", "text", where)
    answer_record, answer_where = answer
    code = _type_code(answer_record.get("type"), answer_where)
    extra = extra_fields(record, _KNOWN)
    if code is not None:
        extra["type"] = code
    return {
        "sample_id": qid,
        "dataset": "activitynet-qa",
        "split": split,
        "video": {"video_id": name, "path": first_video(videos, _stems(name), _VIDEO_EXTS)},
        "question": get(record, "question", "text", where),
        "answer": get(answer_record, "answer", "text", answer_where, optional=answer_record is record),
        "question_type": "" if code is None else TYPES[code],
        "open_ended": True,
        "extra": extra,
    }


def _type_code(raw: Any, where: Where) -> int | None:
    if raw is None:
        return None
    code = int(raw) if isinstance(raw, str) and raw.strip().isdigit() else raw
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < len(TYPES):
        raise where.error(f"should be a type code 0..{len(TYPES) - 1}, got {raw!r}", field="type")
    return code


def _stems(name: str) -> list[str]:
    """ActivityNet files are named ``v_<YouTube id>``; some copies drop the prefix."""
    return [name, f"v_{name}"] if name.startswith("v_") else [f"v_{name}", name]
