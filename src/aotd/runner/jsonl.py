"""JSONL files written one record per line: resume, tolerant reading, merging.

A kill can tear only the last line (records are appended whole, then flushed); that line is cut
off and its sample redone. A bad line anywhere else is damage the runner must not paper over,
so it stops with the file and line number.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aotd.data.records import BadLine, JsonlError


@dataclass
class Existing:
    """What an output file already holds: sample ids and the config each was made with."""

    ids: set[str] = field(default_factory=set)
    configs: Counter[str] = field(default_factory=Counter)
    truncated: bool = False  # a torn last line was cut off


def existing_records(path: Path) -> Existing:
    """Scan ``path`` before appending to it; cut a torn last line, refuse any other bad line.

    Streams the file (outputs of 160K samples do not fit comfortably in memory twice).
    """
    found = Existing()
    if not path.exists():
        return found
    good = 0
    with path.open("rb") as f:
        line, number = f.readline(), 1
        while line:
            following = f.readline()
            last = not following
            try:
                record = json.loads(line)
                sample_id = record["sample_id"]
            except (ValueError, KeyError, TypeError):
                if last:
                    break
                raise JsonlError(f"{path}:{number}: not a record (no JSON object with a sample_id); "
                                 "delete the line or the file and run again") from None
            if last and not line.endswith(b"\n"):
                break  # complete JSON but the kill came before the newline: redo it to be safe
            if sample_id in found.ids:
                raise JsonlError(f"{path}:{number}: sample {sample_id} appears twice; run `aotd merge` to deduplicate")
            found.ids.add(sample_id)
            found.configs[str((record.get("provenance") or {}).get("config", ""))] += 1
            good += len(line)
            line, number = following, number + 1
    if good != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good)
        found.truncated = True
    return found


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """A failed write (a full disk) names ``path``: a buffered file's flush names no file."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def write_lines_atomic(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` to ``path`` through a temporary file and a rename: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with naming(path), os.fdopen(fd, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line.rstrip("\n") + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def drop_failed(path: Path, prefixes: tuple[str, ...], among: set[str]) -> set[str]:
    """Remove the records of samples in ``among`` whose ``failure`` starts with one of ``prefixes``
    (atomically); return their ids.

    So a rerun redoes them (``--retry crash`` after an LLM server came back) without writing a
    second record for any sample; ``among`` (the samples this run will process) keeps a record
    that no one would redo. Run after ``existing_records``, which has cut a torn last line.
    """
    if not prefixes or not path.exists():
        return set()
    dropped: set[str] = set()
    with path.open("r", encoding="utf-8") as f:  # streamed, like existing_records: outputs can be large
        for line in f:
            record = json.loads(line)
            failure = record.get("failure") or ""
            if record["sample_id"] in among and any(failure.startswith(p) for p in prefixes):
                dropped.add(record["sample_id"])
    drop_ids(path, dropped)
    return dropped


def drop_ids(path: Path, ids: set[str]) -> None:
    """Rewrite ``path`` (atomically, streamed) without the lines whose ``sample_id`` is in ``ids``."""
    if not ids or not path.exists():
        return
    with path.open("r", encoding="utf-8") as f:
        write_lines_atomic(path, (line for line in f if _sample_id(line) not in ids))


def keep_timings_of(path: Path, ids: set[str]) -> None:
    """Make a timings file hold one line per sample of ``ids`` at most (the first), and no other:
    a kill can leave a torn line, or a timing whose record was never written (it is redone)."""
    if not path.exists():
        return
    seen: set[str] = set()
    clean = True
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            sample_id = _sample_id(line)
            if sample_id not in ids or sample_id in seen or not line.endswith("\n"):
                clean = False
                break
            seen.add(sample_id)
    if clean:
        return
    seen.clear()

    def kept(lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            sample_id = _sample_id(line)
            if sample_id in ids and sample_id not in seen and line.endswith("\n"):
                seen.add(sample_id)
                yield line

    with path.open("r", encoding="utf-8", errors="replace") as f:
        write_lines_atomic(path, kept(f))


def _sample_id(line: str) -> str | None:
    """The line's sample id; None for a line a kill tore (a timings file's last line may be one)."""
    try:
        return json.loads(line).get("sample_id")
    except (ValueError, AttributeError):
        return None


def merge_files(inputs: list[Path], out: Path, bad: list[BadLine] | None = None) -> dict[str, int]:
    """Join shard outputs into one file sorted by sample id.

    Identical duplicates (the same shard merged twice) collapse; two different records for one
    sample, or records made with different configs, are refused rather than silently chosen. A
    line that is not a record is skipped, put in ``bad`` and counted (``skipped_lines``), as
    every reader of records does; its sample is missing from the merge, and a resumed run of
    that shard redoes it.
    """
    bad = [] if bad is None else bad
    if not inputs:
        raise JsonlError("merge needs at least one input file")
    if out.resolve() in {p.resolve() for p in inputs}:
        raise JsonlError(f"{out}: the merged file must not be one of the inputs")
    records: dict[str, str] = {}
    canonical: dict[str, str] = {}
    first: tuple[str, Path] | None = None
    duplicates = 0
    for path in inputs:
        if not path.is_file():
            raise JsonlError(f"{path}: records file not found")
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                sample_id = record["sample_id"]
            except (ValueError, KeyError, TypeError):
                if number < len(lines):  # a torn last line is no damage: that shard's resumed run redoes it
                    bad.append(BadLine(path, number, "not a record (truncated or malformed JSON, or no sample_id)"))
                continue
            config = str((record.get("provenance") or {}).get("config", ""))
            first = first or (config, path)
            if config != first[0]:
                raise JsonlError(f"{path}:{number}: made with config {config or '?'}, but {first[1]} holds "
                                 f"records of config {first[0] or '?'}; merge only the shards of one run")
            text = json.dumps(record, sort_keys=True, ensure_ascii=False)
            if sample_id in records:
                if canonical[sample_id] != text:
                    raise JsonlError(f"{path}:{number}: sample {sample_id} has a different record in another input")
                duplicates += 1
                continue
            records[sample_id], canonical[sample_id] = line, text
    write_lines_atomic(out, (records[k] for k in sorted(records)))
    return {"records": len(records), "duplicates": duplicates, "inputs": len(inputs), "skipped_lines": len(bad)}
