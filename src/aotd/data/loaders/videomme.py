"""Video-MME (BradyFU/Video-MME; lmms-lab/Video-MME): 2,700 questions on 900 videos, one test split.

The Hugging Face rows (``videomme/test-*.parquet``, or the same rows as JSON or JSON lines)
hold ``video_id`` ("001"), ``duration`` (short / medium / long), ``domain``, ``sub_category``,
``url``, ``videoID`` (the YouTube id, which names the file ``data/<videoID>.mp4``),
``question_id`` ("001-1"), ``task_type`` (the question type, e.g. "Counting Problem"),
``question``, ``options`` (``["A. ...", "B. ...", ...]``) and ``answer`` (a letter). Options
lose their "A. " prefix (options written without one are lettered by position) and the letter
becomes that option's text; ``duration`` and the video categories go to ``extra``.

The repository's evaluation template nests questions under each video (``{"video_id",
"duration_category", "video_category", "video_subcategory", "questions": [...]}``, with
``choices`` for ``options`` and no ``videoID``); that spelling is read too, the file then
being named by ``video_id``. Parquet needs ``pyarrow``. The default video folder is ``data/``
(as the Hugging Face repository unpacks it) or ``videos/`` beside or above the annotations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aotd.data.schema import QASample

from ._bench import (
    ROW_FILE,
    answer_index,
    bench_files,
    bench_video_folder,
    first_video,
    lettered_options,
    read_rows,
    record_name,
    single_split,
)
from ._common import Collector, Where, extra_fields, get, make_sample

DURATIONS = ("short", "medium", "long")
_VIDEO_EXTS = (".mp4", ".MP4", ".mkv", ".webm")
# published name -> the template's spelling of the same field
_ALIASES = {
    "duration": "duration_category",
    "domain": "video_category",
    "sub_category": "video_subcategory",
    "options": "choices",
}
_KNOWN = {"question_id", "question", "options", "choices", "answer", "task_type", "videoID", "video_id", "questions"}


def load(path: Path, *, split: str | None, video_root: Path | None) -> list[QASample]:
    """Every question of ``path``: a row file, or the folder of them (or its ``videomme/``)."""
    files = bench_files(path, ROW_FILE, subdirs=("videomme",), example="videomme/test-00000-of-00001.parquet")
    the_split = single_split(path, split, "Video-MME")
    videos = bench_video_folder(path, video_root, ("data",))
    collector = Collector()
    for file in files:
        for label, record in read_rows(file):
            for where, row in _questions(file, label, record):
                collector.add(make_sample(_sample(row, the_split, videos, where), where), where, "question_id")
    return collector.finish(path)


def _questions(file: Path, label: str | int, record: Any) -> list[tuple[Where, dict[str, Any]]]:
    """One row per question: a flat row as it is, a template video as its questions plus the video's fields."""
    where = Where(file, record_name(label, record, "question_id"))
    if not isinstance(record, dict):
        raise where.error("should be a JSON object (one question, or one video with its questions)")
    if "questions" not in record:
        return [(where, record)]
    questions = get(record, "questions", "list", Where(file, record_name(label, record, "video_id")))
    video = {k: v for k, v in record.items() if k != "questions"}
    out = []
    for n, question in enumerate(questions):
        inner = Where(file, record_name(f"{label}.questions[{n}]", question, "question_id"))
        if not isinstance(question, dict):
            raise inner.error("should be a JSON object (one question)")
        out.append((inner, {**video, **question}))
    return out


def _sample(row: dict[str, Any], split: str, videos: Path | None, where: Where) -> dict[str, Any]:
    field = _spelling(row, "options")
    options = lettered_options(row.get(field), where, field)
    raw_answer = row.get("answer")
    index = None if raw_answer is None else answer_index(raw_answer, options, where, "answer")
    video_id = get(row, "video_id", "text", where)
    youtube_id = get(row, "videoID", "text", where, optional=True)
    extra = {**_categories(row, where), **extra_fields(row, _KNOWN | set(_ALIASES) | set(_ALIASES.values()))}
    if youtube_id is not None:
        extra["youtube_id"] = youtube_id
    return {
        "sample_id": get(row, "question_id", "text", where),
        "dataset": "videomme",
        "split": split,
        "video": {"video_id": video_id, "path": first_video(videos, [youtube_id or video_id], _VIDEO_EXTS)},
        "question": get(row, "question", "text", where),
        "choices": [{"choice_id": k, "text": text} for k, text in enumerate(options)],
        "answer": None if index is None else options[index],
        "answer_index": index,
        "question_type": get(row, "task_type", "text", where),
        "extra": extra,
    }


def _categories(row: dict[str, Any], where: Where) -> dict[str, str]:
    """``duration``, ``domain`` and ``sub_category`` under their published names, where given."""
    out = {}
    for name in ("duration", "domain", "sub_category"):
        value = get(row, _spelling(row, name), "text", where, optional=True)
        if value is not None:
            out[name] = value
    duration = out.get("duration")
    if duration is not None and duration not in DURATIONS:
        field = _spelling(row, "duration")
        raise where.error(f"should be one of {', '.join(DURATIONS)}, got {duration!r}", field=field)
    return out


def _spelling(row: dict[str, Any], name: str) -> str:
    """The field's published name, or the evaluation template's where only that one is present."""
    alias = _ALIASES[name]
    return alias if name not in row and alias in row else name
