"""Step 1: score every candidate of every sub-task against ground truth and pick the best.

As in the paper's Table 1, each sub-task is evaluated with ground truth for everything before
it: a planner's programs run on oracle perception tools (program accuracy); a detector is asked for the
annotated objects in annotated key frames (box IoU); a grounder for each annotated action's
text (temporal IoU / recall); a recognizer gets clips trimmed to the true window (top-1); a
QA model answers on the question's own window (accuracy). The best candidate per sub-task
goes into a config the agent reads.

The candidates scored per sub-task are ``tools.candidates`` (default: the embedded ones, so a
plain ``aotd select`` loads no hub model); transformers candidates named there run with their
``tools.models`` settings, and the chosen config keeps those settings.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aotd.embedded.candidates  # noqa: F401 - registers the embedded world's tools in the table
from aotd.config import Config, PlannerConfig, save_config
from aotd.data.loaders import load_dataset
from aotd.data.loaders.star import class_folder, star_classes
from aotd.data.records import AnswerScore, read_records
from aotd.data.schema import Dataset, QASample
from aotd.errors import AotdError
from aotd.runner import RunOptions, run_stage
from aotd.select.stage import PRIOR_ROW, AnswerStage, questions_digest
from aotd.tools import registry


@dataclass
class Row:
    subtask: str
    model: str
    metric: str
    value: float
    extra: str = ""
    reference: bool = False  # shown for comparison, never chosen

    def number(self) -> str:
        return f"{100 * self.value:.1f}" + (f" / {self.extra}" if self.extra else "")


def run_selection(data: Path, config: Config, *, split: str = "train", limit: int | None = None,
                  planners: dict[str, PlannerConfig] | None = None, dataset: Dataset | None = None,
                  answers: Path | None = None, run: RunOptions | None = None) -> tuple[list[Row], Config]:
    """Score all candidates; return the table rows and ``config`` with the winners filled in.

    ``planners``: the planners whose programs are scored, by row name. ``dataset`` is ``data``
    already loaded (None: load it; parsing a world's scene graphs takes seconds). Each question's
    scores go to ``answers`` (JSONL, resumed; None: a temporary file) through the runner with
    ``run``'s options; with a shard, only that shard's questions are scored and no table is made
    (no rows, ``config`` unchanged): merge the shards' ``answers`` files and run again without one.
    """
    from aotd.data.keyframes import keyframes_of, scored_classes
    from aotd.select.actions import evaluate_grounding, evaluate_recognition
    from aotd.select.detection import evaluate_detector
    from aotd.select.prior import PriorQA

    run = run or RunOptions()
    if run.shard is not None and answers is None:
        raise AotdError(f"--shard {run.shard}: a shard's scores must be kept to be merged; pass the answers file")
    tools = config.tools
    registry.check_models(tools)  # a misspelt name fails before any scoring
    names = {sub: registry.step1_candidates(sub, tools) for sub in ("detection", "grounding", "recognition", "qa")}
    ds = dataset if dataset is not None else load_dataset("star", data)
    samples = [s for s in ds.by_split(split) if s.answer is not None]
    if not samples:
        raise AotdError(f"{data}: split {split!r} has no labelled questions")
    samples = samples[:limit] if limit else samples
    classes = star_classes(data, required="step 1 scores perception against the scene graphs' classes "
                                         "(annotations/classes/ or STAR_classes/)")
    videos = None if limit is None else max(1, len({s.video.video_id for s in samples}))
    # the prior is fit on another split than the one scored: a world's splits are balanced apart, so
    # counts from the rest of the scored split would be anti-predictive (below chance), not a prior
    other = "val" if split == "train" else "train"
    train = [s for s in ds.by_split(other) if s.answer is not None]
    scored = {s.sample_id for s in samples}
    train = train or [s for s in ds.samples if s.split == split and s.answer is not None and s.sample_id not in scored]
    rows: list[Row] = []
    if tools.labels is None:  # label-list recognizers score against the dataset's own action classes
        tools = tools.model_copy(update={"labels": str(Path(class_folder(data) or data).resolve())})
    keyframes = keyframes_of(ds.by_split(split), classes, videos)  # read once for every detector
    for name in names["detection"]:
        r = evaluate_detector(registry.detector(name, tools), keyframes, scored_classes(classes))
        rows.append(Row("detection", name, "IoU", r["mean_iou"]))
    for name in names["grounding"]:
        g = evaluate_grounding(registry.grounder(name, tools), data, split=split, limit=videos)
        rows.append(Row("grounding", name, "IoU / Recall", g.mean_iou, f"{100 * g.recall_at_05:.1f}"))
    for name in names["recognition"]:
        r = evaluate_recognition(registry.recognizer(name, tools), data, split=split, limit=videos)
        rows.append(Row("recognition", name, "Top1-Acc", r.top1))
    best_det = _best(rows, "detection")
    best_rec = _best(rows, "recognition")
    # the QA candidates read the chosen detector and recognizer; the prior is shown for reference
    blind = PriorQA.fit(train, classes)
    stage = AnswerStage(planners or {}, names["qa"], tools.model_copy(update={"detection": best_det,
                                                                               "recognition": best_rec}),
                        classes, blind, cache_dir=run.cache,
                        dataset=questions_digest(samples))
    scores = _score_answers(stage, samples, answers, run)
    if scores is None:
        return [], config
    rows = [Row("decomposition", name, "Acc", scores[name]) for name in planners or {}] + rows
    rows += [Row("qa", name, "Acc", scores[name]) for name in names["qa"]]
    rows.append(Row("qa", PRIOR_ROW, "Acc", scores[PRIOR_ROW], reference=True))
    update: dict[str, Any] = {"detection": best_det, "grounding": _best(rows, "grounding"), "recognition": best_rec,
              "qa": _best(rows, "qa")}
    if config.tools.labels is None and not registry.is_transformers("recognition", best_rec):
        update["labels"] = None  # only a label-list recognizer needs the class folder scoring filled in
    tools = tools.model_copy(update=update)
    chosen = config.model_copy(update={"tools": tools})
    if planners:
        best = _best(rows, "decomposition")
        kind = best if best in ("rules", "one-hop") else "llm"
        chosen = chosen.model_copy(update={"planner": chosen.planner.model_copy(update={"kind": kind})})
    return rows, chosen


def _score_answers(stage: AnswerStage, samples: list[QASample], answers: Path | None,
                   run: RunOptions) -> dict[str, float] | None:
    """Each candidate's accuracy over ``samples`` from their ``AnswerScore`` records (a failed
    record counts as wrong); None for a shard's run, which scores only its part."""
    if answers is None:
        with tempfile.TemporaryDirectory() as tmp:
            return _score_answers(stage, samples, Path(tmp) / "answers.jsonl", run)
    run_stage(stage, samples, answers, **run.stage_kwargs())
    if run.shard is not None:
        return None
    ids = {s.sample_id for s in samples}
    records = [r for r in read_records(answers, AnswerScore) if r.sample_id in ids]
    return {name: sum(r.correct.get(name, False) for r in records) / max(1, len(samples)) for name in stage.scored}


def _best(rows: list[Row], subtask: str) -> str:
    candidates = [r for r in rows if r.subtask == subtask and not r.reference]
    return max(candidates, key=lambda r: r.value).model


def markdown(rows: list[Row]) -> str:
    lines = ["| Sub-task | Model | Metric | Number (%) |", "|---|---|---|---|"]
    for sub in dict.fromkeys(r.subtask for r in rows):
        group = sorted((r for r in rows if r.subtask == sub), key=lambda r: (not r.reference, r.value))  # best last
        winner = _best(rows, sub)
        for k, r in enumerate(group):
            best = "**" if r.model == winner else ""
            lines.append(f"| {sub if k == 0 else ''} | {best}{r.model}{best} | {r.metric} | {best}{r.number()}{best} |")
    return "\n".join(lines)


def write_outputs(rows: list[Row], chosen: Config, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "table1.json").write_text(json.dumps([r.__dict__ for r in rows], indent=2) + "\n")
    (out / "table1.md").write_text(markdown(rows) + "\n")
    save_config(chosen, out / "config.yaml")
