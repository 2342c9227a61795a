"""Step 2: plan a program for each question, run it in the sandbox, keep the trace.

One ``TraceRecord`` per sample; ``AgentStage`` runs them through ``aotd.runner`` (resumable,
sharded, local workers or Ray). A record holds only what the inputs and the config determine
(no timings), so a rerun writes the same bytes. Every failure is classified (``failure``): the planner's (``plan:<reason>``), the sandbox's
(``sandbox:<kind>``: syntax, forbidden, runtime, timeout, memory, ...), ``bad_return`` when
the program returns something that is not one of the choices, ``video`` when the clip cannot
be read. A wrong but well-formed answer is not a failure: ``correct`` is False.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import aotd
from aotd.agent.sandbox import Limits, SandboxResult, run_in_process, run_program
from aotd.data.records import TraceRecord
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


def load_clip(sample: QASample, cache: FrameCache | None = None) -> Clip:
    if sample.video.path is None:
        raise AotdError(f"sample {sample.sample_id}: video {sample.video.video_id} has no file; pass --video-root")
    sampled = sample_video(sample.video.path, start_s=sample.start, end_s=sample.end, cache=cache)
    return Clip(sampled, sample.video.video_id)


def run_sample(sample: QASample, planner: Planner, tools: ToolFactory, *, limits: Limits | None = None,
               isolate: bool = True, cache: FrameCache | None = None,
               timings: dict[str, float] | None = None) -> TraceRecord:
    """Plan, execute and judge one sample; never raises for a problem of this sample.

    Seconds spent loading, planning and executing go to ``timings`` when given.
    """
    record = new_record(sample, planner.name)
    timings = {} if timings is None else timings
    limits = limits or Limits()
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
    timings.update(load_s=round(t1 - t0, 4), plan_s=round(t2 - t1, 4))
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
    timings.update(exec_s=round(time.perf_counter() - t2, 4), tools_s=round(sum(c.duration_s for c in result.calls), 4))
    record.sandbox = result.model_dump(mode="json", exclude={"duration_s": True, "calls": {"__all__": {"duration_s"}}})
    if not result.ok:
        assert result.error is not None
        record.failure, record.error = f"sandbox:{result.error.kind}", result.error.message
        return record
    record.prediction = result.value
    if sample.choices and result.value not in sample.choice_texts:
        record.failure, record.error = "bad_return", f"returned {str(result.value)[:80]!r}, not one of the choices"
        return record
    if result.value is None:  # an open-ended question's program must still return an answer
        record.failure, record.error = "bad_return", "returned None, not an answer"
        return record
    if sample.answer is not None:
        record.correct = result.value == sample.answer
    return record


def new_record(sample: QASample, planner: str) -> TraceRecord:
    return TraceRecord(sample_id=sample.sample_id, dataset=sample.dataset, split=sample.split,
                       video_id=sample.video.video_id, question_type=sample.question_type, question=sample.question,
                       choices=sample.choice_texts, label=sample.answer, planner=planner,
                       provenance={"aotd": aotd.__version__})


def _reason(error: str) -> str:
    """A short, stable failure reason from a planner error message."""
    return error.split(":")[0].strip().lower().replace(" ", "_")[:40]


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
        groups.setdefault(r.question_type or "unknown", []).append(bool(r.correct))
    return {k: round(sum(v) / len(v), 4) for k, v in sorted(groups.items())}
