"""Plumbing shared by the loaders: reading files, checking fields, finding files and videos.

Every failure is a ``DataError`` that names the file, the record and the field, so a user
can open the file at the right place; every record either becomes a sample or raises.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from aotd.data.schema import QASample
from aotd.errors import DataError

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
SPLIT_ORDER = ("train", "val", "test")


def split_key(split: str) -> tuple[int, str]:
    """Sort key putting train, val, test first, then any other split by name."""
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), split)


@dataclass(frozen=True)
class Where:
    """A record's place: its file and its id or line, for errors that point at it."""

    path: Path
    record: str | int | None = None

    def error(self, message: str, field: str | None = None, fix: str | None = None) -> DataError:
        return DataError(message, path=self.path, record=self.record, field=field, fix=fix)


# --- reading ---------------------------------------------------------------------------
def read_text(path: Path) -> str:
    """A UTF-8 text file (a BOM is dropped); missing, unreadable or blank files raise."""
    if path.is_dir():
        raise DataError("is a folder, expected a file", path=path)
    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot be read: {exc.strerror}", path=path) from None
    if not text.strip():
        raise DataError("file is empty", path=path)
    return text


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json`` keeps the last of two equal keys; a repeated key would hide a record, so refuse it."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def parse_json(text: str, where: Where, *, position: str = "line {line}, column {col}") -> Any:
    """Parse JSON text; a syntax error or a repeated key raises naming where it is."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        at = position.format(line=exc.lineno, col=exc.colno)
        raise where.error(f"not valid JSON: {exc.msg} at {at}") from None
    except _DuplicateKey as exc:
        raise where.error(f"key {exc.key!r} appears twice in one JSON object", fix="remove one of them") from None


def read_json(path: Path) -> Any:
    return parse_json(read_text(path), Where(path))


def read_json_of(path: Path, kind: type, what: str) -> Any:
    """``path``'s JSON, which must be a ``kind`` (list, dict); else "should hold <what>", naming the file."""
    data = read_json(path)
    if not isinstance(data, kind):
        raise DataError(f"should hold {what}", path=path)
    return data


def _brief(text: str, limit: int = 120) -> str:
    """Echo of user input short enough for a one-line error."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_csv(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a headed CSV with their line numbers; the header must hold ``required``."""
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    header = list(reader.fieldnames or [])
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}; the header is {_brief(','.join(header))}",
            path=path,
            field=missing[0],
            fix=f"the header must hold {','.join(required)}",
        )
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise DataError(f"the header repeats column(s) {_brief(', '.join(repeated))}", path=path)
    rows = []
    try:
        for row in reader:
            if None in row or None in row.values():
                more = "more" if None in row else "fewer"
                raise DataError(
                    f"row has {more} cells than the header's {len(header)}", path=path, record=reader.line_num
                )
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DataError(f"not valid CSV: {exc}", path=path, record=reader.line_num) from None
    return rows


# --- fields ----------------------------------------------------------------------------
Kind = Literal["text", "number", "int", "list", "dict"]

_KINDS: dict[str, tuple[Any, str]] = {
    "text": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "number": (lambda v: isinstance(v, int | float) and not isinstance(v, bool), "a number"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
}


def get(
    record: Mapping[str, Any], key: str, kind: Kind, where: Where, *, optional: bool = False, prefix: str = ""
) -> Any:
    """``record[key]`` checked to be of ``kind``; a missing (or null) field raises unless optional."""
    value = record.get(key)
    if value is None:
        if optional:
            return None
        raise where.error("is missing", field=prefix + key)
    check, described = _KINDS[kind]
    if not check(value):
        raise where.error(f"should be {described}, got {_short(value)}", field=prefix + key)
    return value


def cell_int(row: Mapping[str, str], column: str, where: Where, *, minimum: int = 0) -> int:
    """A CSV cell holding an integer >= ``minimum``."""
    text = row[column].strip()
    try:
        value = int(text)
    except ValueError:
        raise where.error(f"should be an integer, got {text!r}", field=column) from None
    if value < minimum:
        raise where.error(f"should be at least {minimum}, got {value}", field=column)
    return value


def cell_text(row: Mapping[str, str], column: str, where: Where) -> str:
    text = row[column].strip()
    if not text:
        raise where.error("is empty", field=column)
    return text


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- files and splits ------------------------------------------------------------------
def find_files(
    path: Path, pattern: re.Pattern[str], *, split: str | None, subdirs: Sequence[str] = (), example: str
) -> list[tuple[Path, str]]:
    """Annotation files under ``path`` with their splits: the file itself, or the folder's matches.

    ``pattern`` must capture ``split`` from a file name; a single file whose name does not
    match is taken as ``split`` (default "train").
    """
    if path.is_file():
        return [(path, _file_split(path, pattern, split))]
    if not path.is_dir():
        raise DataError("no such file or folder", path=path)
    found = []
    folders = [path, *(path / s for s in subdirs if (path / s).is_dir())]
    for folder in folders:
        for file in sorted(folder.iterdir()):
            match = pattern.match(file.name)
            if match and file.is_file() and split in (None, match["split"]):
                found.append((file, match["split"]))
    if not found:
        looked = " or ".join(f"{f}/" for f in folders)
        wanted = f"the {split} split" if split else "any split"
        raise DataError(
            f"no annotation file for {wanted} in {looked}", path=path, fix=f"expected files named like {example}"
        )
    return sorted(found, key=lambda item: (split_key(item[1]), item[0]))


def _file_split(path: Path, pattern: re.Pattern[str], split: str | None) -> str:
    match = pattern.match(path.name)
    if match is None:
        return split or "train"
    if split is not None and split != match["split"]:
        raise DataError(
            f"this is the {match['split']} file but split {split!r} was asked for",
            path=path,
            fix="leave the split out, or point at the folder that holds every split",
        )
    return str(match["split"])


# --- videos ----------------------------------------------------------------------------
def video_folder(path: Path, video_root: Path | None) -> Path | None:
    """Where the videos live: ``video_root``, else a ``videos/`` folder beside or above the annotations."""
    if video_root is not None:
        if not video_root.is_dir():
            raise DataError("video folder not found", path=video_root)
        return video_root
    base = path if path.is_dir() else path.parent
    return next((c for c in (base / "videos", base.parent / "videos") if c.is_dir()), None)


def video_file(folder: Path | None, stem: str, exts: Sequence[str] = (".mp4",)) -> Path | None:
    """The first existing ``folder/stem+ext``, else the first candidate (known but missing), else None."""
    if folder is None:
        return None
    candidates = [folder / f"{stem}{ext}" for ext in exts]
    return next((c for c in candidates if c.is_file()), candidates[0])


# --- samples ---------------------------------------------------------------------------
def make_sample(data: dict[str, Any], where: Where) -> QASample:
    """Validate a sample, turning the schema's complaint into a ``DataError`` at ``where``."""
    try:
        return QASample.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field_name = ".".join(str(p) for p in first["loc"]) or None
        raise where.error(first["msg"].removeprefix("Value error, "), field=field_name) from None


@dataclass
class Collector:
    """Gathers samples and refuses a repeated id, which would shadow another record."""

    samples: list[QASample] = field(default_factory=list)
    _first: dict[str, Where] = field(default_factory=dict)

    def add(self, sample: QASample, where: Where, id_field: str) -> None:
        first = self._first.get(sample.sample_id)
        if first is not None:
            raise where.error(
                f"sample id {sample.sample_id!r} was already used by record {first.record} of {first.path}",
                field=id_field,
                fix="sample ids must be unique within a dataset",
            )
        self._first[sample.sample_id] = where
        self.samples.append(sample)

    def finish(self, source: Path) -> list[QASample]:
        if not self.samples:
            raise DataError("holds no samples", path=source, fix="check the path and the format")
        return self.samples


def extra_fields(record: Mapping[str, Any], known: set[str]) -> dict[str, Any]:
    """Fields the schema has no place for, kept verbatim so that nothing is lost."""
    return {k: v for k, v in record.items() if k not in known}
