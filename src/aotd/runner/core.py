"""``run_stage``: items in, one JSONL record per item out, safe to kill and start again.

Guarantees: a record is appended whole and flushed as soon as its item is done (fsync every
``sync_every_s`` and at the end), so a kill loses at most the items in flight; a restart skips
the ids already written and cuts a torn last line, so the finished file holds each item exactly
once, with the bytes an uninterrupted run writes (in completion order: sort to compare).
Timings are not part of a record (they differ run to run); they go to ``<out>.timings.jsonl``,
each written and flushed just before its record, so after any kill and resume every record has
exactly one timing. A run holds ``<out>.lock`` (``lock``): one writer per output.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm import tqdm

from aotd.data.records import JsonlError
from aotd.errors import AotdError
from aotd.orphans import die_with_parent
from aotd.runner.jsonl import drop_failed, existing_records, keep_timings_of, naming
from aotd.runner.lock import exclusive
from aotd.runner.stage import Emit, Result, Stage, guarded


@dataclass(frozen=True)
class Shard:
    """``index`` of ``count`` disjoint parts, chosen by a hash of the sample id: the same on
    every machine, whatever the order or the subset of items each one is given."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise AotdError(f"--shard {text!r}: expected I/N, e.g. 0/4 (shards are numbered 0..N-1)") from None
        if count < 1 or not 0 <= index < count:
            raise AotdError(f"--shard {text!r}: need 0 <= I < N (shards are numbered 0..N-1)")
        return cls(index, count)

    def owns(self, key: str) -> bool:
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class RunOptions:
    """How a dataset-scale step runs, the same for every step (select, agent, cot, eval): which part of
    the items (``shard``), how many processes or actors (``workers``) and where (``executor``),
    the cache of tool outputs and LLM replies (``cache``; None: none), which failure classes to
    redo (``retry``), and whether to draw a progress bar."""

    shard: Shard | None = None
    workers: int = 1
    executor: str = "local"
    cache: Path | None = None
    retry: tuple[str, ...] = ()
    progress: bool = True

    def stage_kwargs(self) -> dict[str, Any]:
        """``run_stage``'s keyword arguments (the cache belongs to the stage, not the runner)."""
        return {"shard": self.shard, "workers": self.workers, "executor": self.executor, "retry": self.retry,
                "progress": self.progress}


@dataclass
class RunReport:
    stage: str
    items: int  # in this shard
    already_done: int
    written: int
    elapsed_s: float
    shard: str | None = None
    truncated: bool = False  # a torn last line from an earlier kill was cut and redone
    crashed: int = 0  # items whose processing broke outside the stage's own error handling
    retried: int = 0  # failed records removed to be redone (``retry``)
    timings: dict[str, float] = field(default_factory=dict)  # mean seconds per item, this run

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, {}, False) or k == "written"}


def timings_path(out: Path) -> Path:
    """Where a stage's per-sample timings go: ``<out>.timings.jsonl`` beside its records."""
    return out.with_name(out.name.removesuffix(".jsonl") + ".timings.jsonl")


def run_stage(stage: Stage, items: Iterable[Any], out: Path, *, shard: Shard | None = None, workers: int = 1,
              executor: str = "local", progress: bool = True, sync_every_s: float = 2.0,
              retry: tuple[str, ...] = ()) -> RunReport:
    """Process every item of this shard that ``out`` does not hold yet; append the records.

    ``retry``: failure classes (prefixes, e.g. ``crash``, ``convert:``) whose records are removed
    first and redone, one record per sample still.
    """
    if workers < 1:
        raise AotdError(f"--workers must be at least 1, got {workers}")
    if executor not in ("local", "ray"):
        raise AotdError(f"--executor must be local or ray, got {executor!r}")
    start = time.perf_counter()
    todo, seen = [], set()
    for item in items:
        key = stage.key(item)
        if key in seen:
            raise AotdError(f"sample id {key} occurs twice in the input; ids must be unique (join shard outputs with `aotd merge`)")
        seen.add(key)
        if shard is None or shard.owns(key):
            todo.append(item)
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(out):
        report = _append(stage, todo, out, shard, workers, executor, progress, sync_every_s, retry)
    report.elapsed_s = round(time.perf_counter() - start, 3)
    return report


def _append(stage: Stage, todo: list[Any], out: Path, shard: Shard | None, workers: int, executor: str,
            progress: bool, sync_every_s: float, retry: tuple[str, ...]) -> RunReport:
    """``run_stage``'s work once it holds the output's lock."""
    existing = existing_records(out)
    foreign = {c: n for c, n in existing.configs.items() if c != stage.fingerprint}
    if foreign:
        config, n = next(iter(foreign.items()))
        raise JsonlError(f"{out}: {n} record(s) were made with config {config or '?'}, this run is config "
                         f"{stage.fingerprint}; write to a new --out, or delete the file to start over")
    retried = drop_failed(out, retry, {stage.key(item) for item in todo})
    existing.ids -= retried
    timing_file = timings_path(out)
    keep_timings_of(timing_file, existing.ids)  # one line per record there too, none for a redone one
    owned = len(todo)
    todo = [item for item in todo if stage.key(item) not in existing.ids]
    report = RunReport(stage=stage.name, items=owned, already_done=owned - len(todo), written=0, elapsed_s=0.0,
                       shard=None if shard is None else str(shard), truncated=existing.truncated, retried=len(retried))
    sums: dict[str, float] = {}
    with out.open("a", encoding="utf-8") as f, timing_file.open("a", encoding="utf-8") as tf, \
            tqdm(total=len(todo), desc=stage.name, unit="q", disable=not progress) as bar:
        last_sync = time.monotonic()

        def emit(item: Any, result: Result, crashed: bool = False) -> None:
            nonlocal last_sync
            line, timings = result
            # The timing first: a kill between the two leaves a timing without its record, which
            # the resume drops, never a record without its timing.
            with naming(timing_file):
                tf.write(json.dumps({"sample_id": stage.key(item), **timings}) + "\n")
                tf.flush()
            with naming(out):
                f.write(line + "\n")
                f.flush()
            for k, v in timings.items():
                sums[k] = sums.get(k, 0.0) + v
            report.written += 1
            report.crashed += crashed
            bar.update()
            if time.monotonic() - last_sync >= sync_every_s:
                os.fsync(tf.fileno())
                os.fsync(f.fileno())
                last_sync = time.monotonic()

        batches = _batches(stage, todo)
        if todo:
            if executor == "ray":
                from aotd.runner.ray_executor import run_on_ray

                run_on_ray(stage, [item for batch in batches for item in batch], workers, emit)
            elif workers == 1:
                _run_here(stage, [item for batch in batches for item in batch], emit)
            else:
                _run_pool(stage, batches, workers, emit)
        for handle, path in ((tf, timing_file), (f, out)):
            with naming(path):
                handle.flush()
                os.fsync(handle.fileno())
    report.timings = {k: round(v / max(1, report.written), 4) for k, v in sorted(sums.items())}
    return report



GROUP_LIMIT = 16  # items of one group sent to a worker at once; a larger group is split


def _batches(stage: Stage, todo: list[Any]) -> list[list[Any]]:
    """The items in the units a worker takes: one each, or with ``stage.group`` the items of
    a group together (in first-seen order, at most ``GROUP_LIMIT`` at a time)."""
    group = getattr(stage, "group", None)
    if group is None:
        return [[item] for item in todo]
    groups: dict[str, list[Any]] = {}
    for item in todo:
        groups.setdefault(group(item), []).append(item)
    return [g[i : i + GROUP_LIMIT] for g in groups.values() for i in range(0, len(g), GROUP_LIMIT)]


def _run_here(stage: Stage, todo: list[Any], emit: Emit) -> None:
    stage.setup()
    for item in todo:
        result, crashed = guarded(stage, item)
        emit(item, result, crashed)


# --- local worker processes ------------------------------------------------------------------
_WORKER_STAGE: Stage | None = None


def _init_worker(stage: Stage, parent: int) -> None:
    global _WORKER_STAGE
    die_with_parent(parent)
    import torch

    torch.set_num_threads(1)  # one core per worker; more threads only fight each other
    stage.setup()
    _WORKER_STAGE = stage


def _work(batch: list[Any]) -> list[tuple[Result, bool]]:
    assert _WORKER_STAGE is not None
    return [guarded(_WORKER_STAGE, item) for item in batch]


def _run_pool(stage: Stage, batches: list[list[Any]], workers: int, emit: Emit) -> None:
    """Spawned processes (not forked: the parent may hold threads and torch state), each
    taking a batch (``_batches``) at a time."""
    queue = iter(batches)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(stage, os.getpid())) as pool:
        pending: dict[Future[list[tuple[Result, bool]]], list[Any]] = {}

        def submit() -> None:
            batch = next(queue, None)
            if batch is not None:
                pending[pool.submit(_work, batch)] = batch

        for _ in range(2 * workers):
            submit()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                batch = pending.pop(future)
                try:
                    results = future.result()
                except Exception as exc:  # the worker died (killed, out of memory)
                    where = stage.key(batch[0]) + (f" (or one of the {len(batch) - 1} after it)" if len(batch) > 1 else "")
                    raise AotdError(f"a worker process died while on sample {where}: {exc}; "
                                    "run again to resume") from exc
                for item, (result, crashed) in zip(batch, results):
                    emit(item, result, crashed)
                submit()
