"""The pipeline's steps as functions: a config, inputs, an output and one ``RunOptions``.

``aotd``'s commands parse their flags into these calls and the demo sequences them, so a step
is wired once. Each dataset-scale step writes its records through the runner: resumable,
sharded, parallel, the same ``RunOptions`` for every step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aotd.data.records import BadLine
from aotd.errors import AotdError
from aotd.runner import RunOptions, RunReport

if TYPE_CHECKING:
    from aotd.config import Config
    from aotd.data.schema import QASample


def agent(config: Config, samples: list[QASample], out: Path,
          run: RunOptions | None = None) -> tuple[RunReport, dict[str, Any]]:
    """Step 2: plan and run a program for every sample ``out`` does not hold yet; the run's
    report and the summary (accuracy, failures by reason) of the whole file."""
    from aotd.agent.stage import AgentStage, run_agent

    run = run or RunOptions()
    return run_agent(samples, AgentStage(config, cache_dir=run.cache), out, **run.stage_kwargs())


def cot(traces: Path, config: Config, out: Path,
        run: RunOptions | None = None) -> tuple[RunReport, dict[str, Any], list[BadLine]]:
    """Step 3: convert and verify every trace ``out`` does not hold yet; the run's report,
    Table 2 of the whole output (also written beside it) and the trace lines skipped."""
    from aotd.cot.stage import run_cot

    run = run or RunOptions()
    return run_cot(traces, config, out, cache_dir=run.cache, **run.stage_kwargs())


def evaluate(samples: list[QASample], out: Path, *, data: Path | None = None, model: Path | None = None,
             traces: Path | None = None, rationale: bool = False, blind: bool = False, fresh_features: bool = False,
             judge: Any = None, run: RunOptions | None = None, bad: list[BadLine] | None = None) -> dict[str, Any]:
    """Score a saved student (``model``) or the agent's ``traces`` on labelled ``samples``.

    Writes the summary to ``out`` and one row per question to ``<out>.rows.jsonl``; returns the
    summary. ``data``, a STAR folder, lends its class files and per-video metadata to score
    rationales' grounding. A student's rows go through the runner (a killed run resumes); the
    agent's are derived from its traces, whose unreadable lines are skipped, put in ``bad`` and
    counted.
    """
    from aotd.eval.agent import evaluate_traces
    from aotd.eval.run import EvalStage, run_eval
    from aotd.runner.jsonl import write_lines_atomic

    run = run or RunOptions()
    if (model is None) == (traces is None):
        raise AotdError("pass exactly one of --model (a trained student) or --traces (the agent's traces)")
    if not samples:
        raise AotdError(f"{data or 'the dataset'}: no questions to evaluate (check --split and the dataset path)")
    classes = star_classes(data) if data is not None and samples[0].dataset == "star" else None
    world = data if data is not None and data.is_dir() else None
    rows_path = out.with_name(out.name.removesuffix(".json") + ".rows.jsonl")
    if traces is not None:
        rows, summary = evaluate_traces(traces, samples, world=world, classes=classes, bad=bad)
        write_lines_atomic(rows_path, (json.dumps(r) for r in rows))
        summary = {"system": "agent", "traces": str(traces), **summary}
    else:
        assert model is not None
        stage = EvalStage(model, rationale=rationale, world=world, judge=judge, classes=classes, blind=blind,
                          fresh_features=fresh_features)
        report, summary = run_eval(samples, stage, rows_path, run)
        summary = {"system": "student", "model": str(model), "blind": blind, "run": report.to_dict(), **summary}
    summary = {"data": str(data), "split": samples[0].split, "rows_file": str(rows_path), **summary}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_lines_atomic(out, [json.dumps(summary, indent=2)])
    return summary


def star_classes(data: Path):  # noqa: ANN201 - StarClasses or None, imported lazily
    """A STAR dataset's class files (objects, verbs, actions), or None where it ships none."""
    from aotd.data.loaders.star import class_folder
    from aotd.data.star_classes import StarClasses

    folder = class_folder(data)
    return None if folder is None else StarClasses.load(folder)
