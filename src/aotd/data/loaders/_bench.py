"""Plumbing the evaluation-benchmark loaders share on top of ``_common``.

Benchmarks ship as row files (a JSON list, JSON lines, or the Hugging Face parquet), most hold
one test split, several letter their options ("A. ...") and answer with the letter, and each
keeps its videos in its own folder layout. Errors still name file, record and field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aotd.errors import DataError

from ._common import Where, parse_json, read_text, video_folder

TEST = "test"
ROW_FILE = re.compile(r"^.+\.(?:json|jsonl|parquet)$", re.IGNORECASE)
_LETTERED = re.compile(r"^\(?(?P<letter>[A-Z])[.):]\s*")


def single_split(path: Path, split: str | None, name: str) -> str:
    """The one split of a test-only benchmark; asking for another is an error, not an empty set."""
    if split not in (None, TEST):
        raise DataError(f"{name} has only a {TEST} split, not {split!r}", path=path, fix="leave the split out")
    return TEST


def bench_files(path: Path, pattern: re.Pattern[str], *, subdirs: Sequence[str] = (), example: str) -> list[Path]:
    """``path`` itself, or the files matching ``pattern`` in the folder (and its ``subdirs``)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError("no such file or folder", path=path)
    folders = [path, *(path / s for s in subdirs if (path / s).is_dir())]
    found = [f for folder in folders for f in sorted(folder.iterdir()) if f.is_file() and pattern.match(f.name)]
    if not found:
        looked = " or ".join(f"{f}/" for f in folders)
        raise DataError(f"no annotation file in {looked}", path=path, fix=f"expected files named like {example}")
    return found


def read_rows(file: Path) -> list[tuple[str | int, Any]]:
    """A row file's records with their places: ``[i]`` in a JSON list or parquet, the line in JSON lines.

    A ``.json`` file that does not start with ``[`` is read as JSON lines, since
    ``datasets.Dataset.to_json`` writes one object a line under that name.
    """
    if file.suffix.lower() == ".parquet":
        return [(f"[{i}]", row) for i, row in enumerate(_parquet(file))]
    text = read_text(file)
    if file.suffix.lower() != ".jsonl" and text.lstrip().startswith("["):
        rows = parse_json(text, Where(file))
        return [(f"[{i}]", row) for i, row in enumerate(rows)]
    # split on "\n" only: str.splitlines also breaks at U+2028 and friends, legal inside JSON strings
    return [
        (n, parse_json(line, Where(file, n), position="column {col}"))
        for n, line in enumerate(text.split("\n"), 1)
        if line.strip()
    ]


def _parquet(file: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            "reading parquet needs pyarrow", path=file, fix="pip install pyarrow, or export the rows as JSON lines"
        ) from None
    try:
        return list(pq.read_table(file).to_pylist())
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise DataError(f"not a readable parquet file: {exc}", path=file) from None


def record_name(label: str | int, record: Any, *keys: str) -> str | int:
    """A record's first non-empty string id among ``keys``, else its place in the file."""
    if isinstance(record, dict):
        for key in keys:
            value = record.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return label


def lettered_options(raw: Any, where: Where, field: str) -> list[str]:
    """Option texts, each without its "A. " / "(B)" prefix; unlettered options are kept as they are.

    A prefix must carry the option's own letter (the first option "A", ...), or the list is
    out of order and the letter answers would point at the wrong text.
    """
    if raw is None:
        raise where.error("is missing", field=field)
    if not isinstance(raw, list) or not raw:
        raise where.error("should be a non-empty list of options", field=field)
    texts = []
    for k, option in enumerate(raw):
        if not isinstance(option, str) or not option.strip():
            raise where.error(f"should be a non-empty string, got {option!r}", field=f"{field}[{k}]")
        text = option.strip()
        match = _LETTERED.match(text)
        if match:
            if match["letter"] != letter(k):
                raise where.error(
                    f"option {k + 1} is lettered {match['letter']!r}, expected {letter(k)!r}", field=f"{field}[{k}]"
                )
            text = text[match.end() :].strip()
            if not text:
                raise where.error(f"option {letter(k)} has a letter but no text", field=f"{field}[{k}]")
        texts.append(text)
    return texts


def letter(index: int) -> str:
    return chr(ord("A") + index)


def answer_index(raw: Any, options: list[str], where: Where, field: str) -> int:
    """The option an answer names: a letter ("C"), or the option's text (with or without its letter)."""
    if not isinstance(raw, str) or not raw.strip():
        raise where.error(f"should be an option letter or text, got {raw!r}", field=field)
    answer = raw.strip()
    if len(answer) == 1 and "A" <= answer.upper() <= "Z":
        index = ord(answer.upper()) - ord("A")
        if index >= len(options):
            raise where.error(f"answer {answer!r} is outside the options A..{letter(len(options) - 1)}", field=field)
        return index
    match = _LETTERED.match(answer)
    text = answer[match.end() :].strip() if match else answer
    hits = [i for i, option in enumerate(options) if option == text]
    if len(hits) != 1:
        problem = "matches none" if not hits else "matches more than one"
        raise where.error(f"answer {answer!r} {problem} of the options", field=field, fix="give the option's letter")
    return hits[0]


def bench_video_folder(path: Path, video_root: Path | None, names: Sequence[str]) -> Path | None:
    """``video_root``, else the first of ``names`` beside or above the annotations (``videos/`` last)."""
    if video_root is not None:
        return video_folder(path, video_root)
    base = path if path.is_dir() else path.parent
    candidates = [folder / name for name in names for folder in (base, base.parent)]
    return next((c for c in candidates if c.is_dir()), None) or video_folder(path, None)


def first_video(folder: Path | None, stems: Sequence[str], exts: Sequence[str]) -> Path | None:
    """The first existing ``folder/stem+ext`` over stems and extensions, else the first candidate."""
    if folder is None:
        return None
    candidates = [folder / f"{stem}{ext}" for stem in stems for ext in exts]
    return next((c for c in candidates if c.is_file()), candidates[0])
