"""STAR (csbobby/STAR): JSON lists of situated multiple-choice questions with scene graphs.

A record holds ``question_id`` (``Interaction_T1_13``: family, template, number),
``question``, ``video_id``, ``start``/``end`` (seconds), ``answer`` (the correct choice's
text; absent in the test split), ``question_program`` and ``choices`` (each with a
``choice_program``: STAR's executor runs question + choice program and expects "Correct"
only for the answer), and ``situations``: scene graphs keyed by zero-padded source frame.

Some published STAR dumps (csbobby/STAR ``data/sel_examples.json``) write object and
relationship ids as bare class indices (``28`` for ``o028``); those are turned into ids.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, overload

from aotd.data.schema import QUESTION_FAMILIES, QASample
from aotd.data.star_classes import CLASS_FILES, StarClasses
from aotd.errors import AotdError

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

_FILE = re.compile(r"^STAR_(?P<split>[A-Za-z]+)\.json$")
_KNOWN = {"question_id", "question", "video_id", "start", "end", "answer", "question_program", "choices", "situations"}
_GRAPH_FIELDS = ("actions", "bbox", "bbox_labels", "rel_pairs", "rel_labels")
_CLASS_DIR_NAMES = ("classes", "STAR_classes")


def load(path: Path, *, split: str | None, video_root: Path | None, classes_dir: Path | None) -> list[QASample]:
    """Every question of ``path`` (a ``STAR_<split>.json`` or a folder of them)."""
    files = find_files(path, _FILE, split=split, subdirs=("annotations",), example="STAR_train.json")
    videos = video_folder(path, video_root)
    folder = classes_dir or class_folder(path)
    classes = None if folder is None else StarClasses.load(folder)
    collector = Collector()
    for file, file_split in files:
        for index, record in enumerate(_records(file)):
            where = _where(file, index, record)
            if not isinstance(record, dict):
                raise where.error("should be a JSON object (one question)")
            sample = make_sample(_sample(record, file_split, videos, where), where)
            if classes is not None and sample.situations:
                _check_ids(sample, classes, where)
            collector.add(sample, where, "question_id")
    return collector.finish(path)


def _where(file: Path, index: int, record: Any) -> Where:
    """Name a record by its question id, or by its list position (``[3]``, as jq writes it)."""
    qid = record.get("question_id") if isinstance(record, dict) else None
    return Where(file, qid if isinstance(qid, str) and qid.strip() else f"[{index}]")


def _records(file: Path) -> list[Any]:
    records = read_json_of(file, list, "a JSON list of questions")
    return records


def _sample(record: dict[str, Any], split: str, videos: Path | None, where: Where) -> dict[str, Any]:
    qid = get(record, "question_id", "text", where)
    family, template = _family(qid, where)
    video_id = get(record, "video_id", "text", where)
    choices = _choices(record, where)
    answer = get(record, "answer", "text", where, optional=True)
    situations = get(record, "situations", "dict", where, optional=True)
    return {
        "sample_id": qid,
        "dataset": "star",
        "split": split,
        "video": {"video_id": video_id, "path": video_file(videos, video_id)},
        "question": get(record, "question", "text", where),
        "choices": choices,
        "answer": answer,
        "answer_index": None if answer is None else _answer_index(answer, choices, where),
        "question_type": family,
        "template": template,
        "program": _program(record.get("question_program"), where, "question_program"),
        "situations": None if situations is None else {k: _situation(k, v, where) for k, v in situations.items()},
        "start": get(record, "start", "number", where),
        "end": get(record, "end", "number", where),
        "extra": extra_fields(record, _KNOWN),
    }


def _family(qid: str, where: Where) -> tuple[str, str]:
    parts = qid.split("_")
    if len(parts) < 3 or parts[0] not in QUESTION_FAMILIES:
        raise where.error(
            f"should look like <Family>_<Template>_<n>, e.g. Interaction_T1_13, got {qid!r}",
            field="question_id",
            fix=f"the family must be one of {', '.join(QUESTION_FAMILIES)}",
        )
    return parts[0], f"{parts[0]}_{parts[1]}"


def _choices(record: dict[str, Any], where: Where) -> list[dict[str, Any]]:
    raw = get(record, "choices", "list", where)
    if not raw:
        raise where.error("is empty; a STAR question has choices", field="choices")
    out = []
    for n, choice in enumerate(raw):
        prefix = f"choices[{n}]."
        if not isinstance(choice, dict):
            raise where.error("should be an object {choice_id, choice, choice_program}", field=prefix[:-1])
        out.append(
            {
                "choice_id": get(choice, "choice_id", "int", where, prefix=prefix),
                "text": get(choice, "choice", "text", where, prefix=prefix),
                "program": _program(choice.get("choice_program"), where, prefix + "choice_program"),
            }
        )
    return out


def _answer_index(answer: str, choices: list[dict[str, Any]], where: Where) -> int:
    """STAR's answer is the correct choice's text, compared exactly (as STAR's run_program does)."""
    hits = [i for i, c in enumerate(choices) if c["text"] == answer]
    if len(hits) != 1:
        texts = ", ".join(repr(c["text"]) for c in choices)
        problem = "matches none" if not hits else "matches more than one"
        raise where.error(f"answer {answer!r} {problem} of the choices {texts}", field="answer")
    return hits[0]


def _program(raw: Any, where: Where, field: str) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise where.error("should be a list of {function, value_input} steps", field=field)
    steps = []
    for n, step in enumerate(raw):
        prefix = f"{field}[{n}]."
        if not isinstance(step, dict):
            raise where.error("should be an object {function, value_input}", field=prefix[:-1])
        inputs = get(step, "value_input", "list", where, optional=True, prefix=prefix)
        steps.append({"function": get(step, "function", "text", where, prefix=prefix), "value_input": inputs or []})
    return steps


def _situation(key: str, raw: Any, where: Where) -> dict[str, Any]:
    field = f"situations.{key}"
    if not key.isdigit():
        raise where.error(f"key {key!r} should be a zero-padded frame number like '000199'", field="situations")
    if not isinstance(raw, dict):
        raise where.error("should be an object (one key frame's scene graph)", field=field)
    graph = {name: get(raw, name, "list", where, optional=True, prefix=field + ".") or [] for name in _GRAPH_FIELDS}
    return {
        "frame": int(key),
        "actions": [_class_id(a, "", where, f"{field}.actions") for a in graph["actions"]],
        "bbox": graph["bbox"],
        "bbox_labels": [_class_id(o, "o", where, f"{field}.bbox_labels") for o in graph["bbox_labels"]],
        "rel_pairs": [_pair(p, where, f"{field}.rel_pairs") for p in graph["rel_pairs"]],
        "rel_labels": [_class_id(r, "r", where, f"{field}.rel_labels") for r in graph["rel_labels"]],
    }


def _pair(raw: Any, where: Where, field: str) -> list[str]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise where.error(f"each pair should be [subject, object], got {raw!r}", field=field)
    return [_class_id(o, "o", where, field) for o in raw]


def _class_id(raw: Any, prefix: str, where: Where, field: str) -> str:
    """An id string; a bare class index N becomes ``<prefix>NNN`` where the dumps allow it."""
    if isinstance(raw, str) and raw:
        return raw
    if prefix and isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return f"{prefix}{raw:03d}"
    example = {"o": "'o016'", "r": "'r002'"}.get(prefix, "'a077'")
    raise where.error(f"should hold class ids like {example}, got {raw!r}", field=field)


# --- class files ---------------------------------------------------------------------------
def class_folder(path: str | Path) -> Path | None:
    """The class files that sit with ``path`` (a STAR file, or a folder holding them or annotations/).

    Looks for ``classes/`` (as the embedded world writes it) or ``STAR_classes/`` (as the
    STAR_Benchmark repository ships it) beside the JSON files; None when there is neither.
    """
    path = Path(path)
    bases = [path, path / "annotations"] if path.is_dir() else [path.parent]
    return next((b / name for b in bases for name in _CLASS_DIR_NAMES if (b / name).is_dir()), None)


@overload
def star_classes(path: str | Path, *, required: str) -> StarClasses: ...
@overload
def star_classes(path: str | Path, *, required: None = None) -> StarClasses | None: ...
def star_classes(path: str | Path, *, required: str | None = None) -> StarClasses | None:
    """The class files that sit with ``path`` (``class_folder``), loaded: every step that reads a
    STAR dataset's classes finds them this one way. None where there are none, unless
    ``required`` says how to supply them: then an error naming ``path`` and that fix."""
    folder = class_folder(path)
    if folder is None:
        if required is not None:
            raise AotdError(f"{path}: no STAR class files found beside it; {required}")
        return None
    return StarClasses.load(folder)


def _check_ids(sample: QASample, classes: StarClasses, where: Where) -> None:
    """Every id in the scene graphs must exist in the class files the executor will read."""
    tables = {
        "bbox_labels": ("objects", classes.objects),
        "rel_pairs": ("objects", classes.objects),
        "rel_labels": ("relationships", classes.relationships),
        "actions": ("actions", classes.actions),
    }
    for key, situation in (sample.situations or {}).items():
        for name, (kind, table) in tables.items():
            values = getattr(situation, name)
            ids = [i for pair in values for i in pair] if name == "rel_pairs" else values
            unknown = next((i for i in ids if i not in table), None)
            if unknown is not None:
                raise where.error(
                    f"unknown id {unknown!r}: not in {CLASS_FILES[kind]}",
                    field=f"situations.{key}.{name}",
                    fix="use the class files that came with these annotations",
                )
