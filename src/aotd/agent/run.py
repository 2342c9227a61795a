"""Step 2: plan a program for each question, run it in the sandbox, keep the trace.

One ``TraceRecord`` per sample, appended to a JSONL file as soon as it exists, so a killed
run loses at most the sample in flight and a restarted run skips the ids already written.
Every failure is classified (``failure``): the planner's (``plan:<reason>``), the sandbox's
(``sandbox:<kind>``: syntax, forbidden, runtime, timeout, memory, ...), ``bad_return`` when
the program returns something that is not one of the choices, ``video`` when the clip cannot
be read. A wrong but well-formed answer is not a failure: ``correct`` is False.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field
from tqdm import tqdm

import aotd
from aotd.agent.sandbox import Limits, SandboxResult, run_in_process, run_program
from aotd.data.schema import QASample
from aotd.data.video import FrameCache, sample_video
from aotd.errors import AotdError
from aotd.tools.api import ToolAPI
from aotd.tools.clip import Clip


class PlanLike(Protocol):
    program: str
    planner: str
    error: str | None


class Planner(Protocol):
    name: str

    def plan(self, sample: QASample) -> PlanLike: ...


ToolFactory = Callable[[QASample, Clip], ToolAPI]


class TraceRecord(BaseModel):
    sample_id: str
    dataset: str
    split: str
    video_id: str
    question: str
    choices: list[str]
    label: str | None
    program: str | None = None
    planner: str
    tools: dict[str, str] = Field(default_factory=dict)
    prediction: Any = None
    correct: bool | None = None
    failure: str | None = None
    error: str | None = None
    sandbox: dict[str, Any] | None = None
    frames: list[int] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    provenance: dict[str, str] = Field(default_factory=dict)


def load_clip(sample: QASample, cache: FrameCache | None = None) -> Clip:
    if sample.video.path is None:
        raise AotdError(f"sample {sample.sample_id}: video {sample.video.video_id} has no file; pass --video-root")
    sampled = sample_video(sample.video.path, start_s=sample.start, end_s=sample.end, cache=cache)
    return Clip(sampled, sample.video.video_id)


def run_sample(sample: QASample, planner: Planner, tools: ToolFactory, *, limits: Limits = Limits(),
               isolate: bool = True, cache: FrameCache | None = None) -> TraceRecord:
    """Plan, execute and judge one sample; never raises for a problem of this sample."""
    record = TraceRecord(sample_id=sample.sample_id, dataset=sample.dataset, split=sample.split,
                         video_id=sample.video.video_id, question=sample.question, choices=sample.choice_texts,
                         label=sample.answer, planner=planner.name, provenance={"aotd": aotd.__version__})
    t0 = time.perf_counter()
    try:
        clip = load_clip(sample, cache)
    except AotdError as exc:
        record.failure, record.error = "video", str(exc)
        return record
    record.frames = list(clip.sampled.source_indices)
    t1 = time.perf_counter()
    plan = planner.plan(sample)
    t2 = time.perf_counter()
    record.timings = {"load_s": round(t1 - t0, 4), "plan_s": round(t2 - t1, 4)}
    record.program = plan.program or None
    if plan.error or not plan.program:
        record.failure, record.error = f"plan:{_reason(plan.error or 'empty program')}", plan.error
        return record
    api = tools(sample, clip)
    record.tools = api.provenance()
    runner = run_program if isolate else run_in_process
    result: SandboxResult = runner(plan.program, tools=api.functions(),
                                   inputs={"video": clip, "question": sample.question, "choices": sample.choice_texts},
                                   limits=limits)
    record.timings["exec_s"] = round(time.perf_counter() - t2, 4)
    record.sandbox = result.to_dict()
    if not result.ok:
        assert result.error is not None
        record.failure, record.error = f"sandbox:{result.error.kind}", result.error.message
        return record
    record.prediction = result.value
    if sample.choices and result.value not in sample.choice_texts:
        record.failure, record.error = "bad_return", f"returned {str(result.value)[:80]!r}, not one of the choices"
        return record
    if sample.answer is not None:
        record.correct = result.value == sample.answer
    return record


def _reason(error: str) -> str:
    """A short, stable failure reason from a planner error message."""
    return error.split(":")[0].strip().lower().replace(" ", "_")[:40]


def done_ids(path: Path) -> set[str]:
    """Ids already written; a torn last line (a kill mid-write) is dropped and rewritten."""
    if not path.exists():
        return set()
    ids, good = set(), 0
    with path.open("rb") as f:
        for line in f:
            try:
                ids.add(json.loads(line)["sample_id"])
            except (ValueError, KeyError):
                break
            good += len(line)
    if good != path.stat().st_size:
        with path.open("r+b") as f:
            f.truncate(good)
    return ids


def run_agent(samples: Iterable[QASample], planner: Planner, tools: ToolFactory, out: Path, *,
              limits: Limits = Limits(), isolate: bool = True, progress: bool = True) -> dict[str, Any]:
    """Run every sample not yet in ``out``; append records; return the summary of the whole file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    skip = done_ids(out)
    todo = [s for s in samples if s.sample_id not in skip]
    cache = FrameCache(max_bytes=256 * 2**20)
    with out.open("a", encoding="utf-8") as f:
        for sample in tqdm(todo, desc="agent", unit="q", disable=not progress):
            record = run_sample(sample, planner, tools, limits=limits, isolate=isolate, cache=cache)
            f.write(record.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
    return summarize(read_traces(out))


def read_traces(path: Path) -> list[TraceRecord]:
    return [TraceRecord.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def summarize(records: list[TraceRecord]) -> dict[str, Any]:
    labelled = [r for r in records if r.label is not None]
    failures = Counter(r.failure for r in records if r.failure)
    return {
        "samples": len(records),
        "accuracy": round(sum(bool(r.correct) for r in labelled) / max(1, len(labelled)), 4),
        "failed": round(sum(failures.values()) / max(1, len(records)), 4),
        "failures": dict(failures.most_common()),
        "by_type": _by_type(labelled),
    }


def _by_type(records: list[TraceRecord]) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for r in records:
        groups.setdefault(r.sample_id.split("_")[0], []).append(bool(r.correct))
    return {k: round(sum(v) / len(v), 4) for k, v in sorted(groups.items())}
