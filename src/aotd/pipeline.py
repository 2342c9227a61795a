"""The pipeline's steps as functions: ``select``, ``agent``, ``cot``, ``build``, ``train``,
``evaluate`` and ``report``, each taking a config, inputs and an output.

``aotd``'s commands parse their flags into these calls and the demo sequences them, so a step
is wired once. The dataset-scale steps (select, agent, cot, evaluate) write their records
through the runner and take one ``RunOptions``: resumable, sharded, parallel, the same for every step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aotd.data.records import BadLine
from aotd.errors import AotdError
from aotd.runner import RunOptions, RunReport

if TYPE_CHECKING:
    from collections.abc import Callable

    from aotd.config import Config, DistillConfig
    from aotd.data.records import CotRecord, TrainRecord
    from aotd.data.schema import Dataset, QASample
    from aotd.models.student import Student


def select(config: Config, data: Path, out: Path, *, split: str = "train", limit: int | None = None,
           dataset: Dataset | None = None, run: RunOptions | None = None) -> tuple[list[Any], Config]:
    """Step 1: score every candidate per sub-task on ``split`` of the STAR dataset ``data``
    (Table 1), with the one-hop and rule planners (and ``config``'s LLM planner when it names
    one); writes each question's scores to ``out/answers.jsonl`` (through the runner, with
    ``run``'s options), then ``table1.{json,md}`` and the chosen ``config.yaml`` to ``out``.
    With a shard it scores that shard's questions and writes no table (no rows are returned).
    ``dataset``: ``data`` already loaded, if the caller has it."""
    from aotd.config import PlannerConfig
    from aotd.select import run_selection, write_outputs

    planners = {kind: PlannerConfig(kind=kind) for kind in ("one-hop", "rules")}
    if config.planner.kind == "llm":
        planners[f"llm:{config.planner.model}"] = config.planner
    out.mkdir(parents=True, exist_ok=True)
    rows, chosen = run_selection(data, config, split=split, limit=limit, planners=planners, dataset=dataset,
                                 answers=out / "answers.jsonl", run=run)
    if rows:
        write_outputs(rows, chosen, out)
    return rows, chosen


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


def build(samples: list[QASample], cots: list[CotRecord], out: Path, *, fmt: str = "aotd", cot_filter: str = "verified",
          no_cot: bool = False, source: str = "dataset", max_rationales: int | None = None,
          shuffle_rationales: bool = False) -> tuple[list[TrainRecord], list[Path]]:
    """Step 4's data: an answer record per labelled sample and a rationale record per CoT that
    passes ``cot_filter`` (none with ``no_cot``: the Instruct set), written as ``fmt``; the
    records and the paths written."""
    from aotd.distill.build import build_records
    from aotd.distill.export import export

    if cot_filter not in ("verified", "answer", "none"):
        raise AotdError(f"--cot-filter {cot_filter!r}: expected verified, answer or none")
    records = build_records(samples, [] if no_cot else cots, cot_filter=cot_filter,  # type: ignore[arg-type]
                            no_cot=no_cot, source=source, max_rationales=max_rationales,
                            shuffle_rationales=shuffle_rationales)
    return records, export(records, out, fmt)


def train(config: DistillConfig, records: list[TrainRecord], out: Path, *,
          inputs: Callable[[Student], Callable[[TrainRecord], Any]] | None = None,
          validate: Callable[[Student], float] | None = None, progress: bool = True) -> dict[str, Any]:
    """Step 4: build ``config``'s student and train it on ``records`` with L = L_label +
    λ·L_rationale (resuming from ``out``'s checkpoint); ``inputs`` gives what the student reads
    for a record (default: its video's frames or features), ``validate`` scores an epoch on held-out
    data and keeps the best. Writes ``out/model``, ``history.jsonl``, ``loss.png`` and the
    result, ``train.json``."""
    from aotd.distill.students import build_student
    from aotd.distill.train import prepare, video_inputs
    from aotd.distill.train import train as fit

    student = build_student(config)
    loader = (inputs or video_inputs)(student)
    result = fit(student, prepare(student, records, loader, progress=progress), out, config.train, progress=progress,
                 validate=validate)
    result = {"student": student.name, "records": len(records),
              "rationale_records": sum(r.kind == "rationale" for r in records), **result}
    (out / "train.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


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
    from aotd.data.loaders.star import star_classes
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
        write_lines_atomic(rows_path, (r.model_dump_json() for r in rows))
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


def report(runs: Path, out: Path) -> Path:
    """The report of a demo run's files (Markdown, HTML, plots, ``summary.json``) in ``out``."""
    from aotd.report import write_report

    return write_report(runs, out)
