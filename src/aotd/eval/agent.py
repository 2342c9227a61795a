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

from aotd.agent.run import read_traces
from aotd.cot.convert import RuleConverter
from aotd.data.schema import QASample
from aotd.data.star_classes import StarClasses
from aotd.eval.grounding import ground_truth, load_video_meta, parse_grounding, score_grounding
from aotd.eval.run import grounding_row, summarize_rows
from aotd.runner.jsonl import read_jsonl


def timings_path(traces: Path) -> Path:
    return traces.with_name(traces.name.removesuffix(".jsonl") + ".timings.jsonl")


def agent_rows(traces: Path, samples: list[QASample], *, world: Path | None = None,
               classes: StarClasses | None = None) -> list[dict[str, Any]]:
    """One evaluation row per trace of a sample in ``samples``."""
    by_id = {s.sample_id: s for s in samples}
    timings = {t["sample_id"]: t for t in read_jsonl(timings_path(traces))} if timings_path(traces).exists() else {}
    meta = load_video_meta(world) if world is not None and (world / "annotations" / "videos.json").is_file() else {}
    converter = RuleConverter()
    rows = []
    for trace in read_traces(traces):
        sample = by_id.get(trace.sample_id)
        if sample is None:
            continue
        t = timings.get(trace.sample_id, {})
        latency = sum(t.get(k, 0.0) for k in ("load_s", "plan_s", "exec_s")) if t else None
        row: dict[str, Any] = {"sample_id": trace.sample_id, "dataset": trace.dataset, "split": trace.split,
                               "question_type": trace.question_type, "question": trace.question,
                               "choices": trace.choices, "answer": trace.label, "prediction": trace.prediction,
                               "correct": bool(trace.correct) if trace.label is not None else None,
                               "failure": trace.failure, "latency_s": latency, "peak_mb": t.get("peak_mb")}
        rationale = converter.convert(trace).rationale
        if rationale and sample.situations and classes is not None and trace.frames:
            actions = (meta.get(sample.video.video_id) or {}).get("actions")
            fps = sample.video.fps or float((meta.get(sample.video.video_id) or {}).get("fps") or 0) or None
            if fps:
                truth = ground_truth(sample, trace.frames, fps, classes, video_actions=actions)
                row["rationale"] = rationale
                row["grounding"] = grounding_row(score_grounding(parse_grounding(rationale), truth))
        rows.append(row)
    return rows


def evaluate_traces(traces: Path, samples: list[QASample], *, world: Path | None = None,
                    classes: StarClasses | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows = agent_rows(traces, samples, world=world, classes=classes)
    return rows, summarize_rows(rows, expected=len(samples))
