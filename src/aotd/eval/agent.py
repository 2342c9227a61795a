"""The agent, scored like a student: its traces on a split become evaluation rows.

Accuracy comes from each trace's prediction; the agent's "rationale" is what the rule
converter writes from its trace (the expert tools' own windows and boxes), so its grounding is
scored the same way as a student's (paper Table 7 lists the tools beside the students); latency
is the trace's load + plan + execute time from the ``.timings.jsonl`` file beside the traces,
and peak memory is what the agent's process recorded there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aotd.cot.convert import RuleConverter
from aotd.data.records import BadLine, EvalRow, TraceRecord, read_jsonl, read_records
from aotd.data.schema import QASample
from aotd.data.star_classes import StarClasses
from aotd.eval.run import grounding_of, summarize_rows, video_meta
from aotd.runner import timings_path


def agent_rows(traces: Path, samples: list[QASample], *, world: Path | None = None,
               classes: StarClasses | None = None, bad: list[BadLine] | None = None) -> list[EvalRow]:
    """One evaluation row per trace of a sample in ``samples``; unreadable lines go to ``bad``
    (or raise when it is None). A trace whose timing is missing has no latency: the cost
    figure then says how many questions it covers."""
    by_id = {s.sample_id: s for s in samples}
    timing_file = timings_path(traces)
    timings = {t["sample_id"]: t for t in read_jsonl(timing_file, [])} if timing_file.exists() else {}
    meta = video_meta(world)
    converter = RuleConverter()
    rows = []
    for trace in read_records(traces, TraceRecord, bad):
        sample = by_id.get(trace.sample_id)
        if sample is None:
            continue
        t = timings.get(trace.sample_id, {})
        latency = sum(t.get(k, 0.0) for k in ("load_s", "plan_s", "exec_s")) if t else None
        rationale = converter.convert(trace).rationale
        fps = sample.video.fps or (meta.get(sample.video.video_id) or {}).get("fps")
        grounding = grounding_of(sample, rationale, trace.frames, fps, classes, meta) if rationale else None
        rows.append(EvalRow(sample_id=trace.sample_id, dataset=trace.dataset, split=trace.split,
                            question_type=trace.question_type, question=trace.question, choices=trace.choices,
                            answer=trace.label, prediction=trace.prediction,
                            correct=bool(trace.correct) if trace.label is not None else None, failure=trace.failure,
                            latency_s=latency, peak_mb=t.get("peak_mb"),
                            rationale=rationale if grounding is not None else None, grounding=grounding))
    return rows


def evaluate_traces(traces: Path, samples: list[QASample], *, world: Path | None = None,
                    classes: StarClasses | None = None,
                    bad: list[BadLine] | None = None) -> tuple[list[EvalRow], dict[str, Any]]:
    """The rows and their summary; a bad line of ``traces`` is skipped, put in ``bad`` and counted."""
    bad = [] if bad is None else bad
    rows = agent_rows(traces, samples, world=world, classes=classes, bad=bad)
    return rows, {**summarize_rows(rows, expected=len(samples)), "skipped_lines": len(bad)}
