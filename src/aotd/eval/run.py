"""``aotd eval``: a trained student (or the agent's traces) on a labelled split, one row per question.

A student answers with the paper's answer prompt; its reply is parsed into an option (a
fallback pick is counted in the row and in the summary, never hidden) or, for open-ended
questions, scored by normalised match or an LLM judge whose name is stored with each score.
With ``rationale`` it also writes a rationale, whose frame windows and boxes are scored against
the annotations (paper Table 7) when the dataset has situations. Every row carries the
question's latency and the process's peak memory, so cost is measured on the same questions.

Evaluation runs through the project's runner: rows are appended as questions finish, a killed
run resumes where it stopped, ``--shard`` and ``--workers`` work as for the agent, and a partial
file is summarised for what it holds (``scored`` says how many).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

import aotd
from aotd.data.records import EvalRow, read_records
from aotd.data.schema import QASample
from aotd.data.star_classes import StarClasses
from aotd.errors import AotdError
from aotd.eval.grounding import (
    BoxScore,
    GroundingScore,
    TemporalScore,
    ground_truth,
    grounding_summary,
    parse_grounding,
    score_grounding,
)
from aotd.eval.metrics import accuracy_summary, normalized_match
from aotd.models.options import parse_option
from aotd.runner import RunOptions, RunReport, run_stage
from aotd.runner.memory import peak_memory_mb, reset_peak_memory

ANSWER_TOKENS = 16  # a letter or a short phrase; generation stops at end-of-text before that
RATIONALE_TOKENS = 384


def model_digest(model_dir: Path) -> str:
    """A short hash of a saved student's files: rows made by other weights are refused on resume."""
    h = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        h.update(path.relative_to(model_dir).as_posix().encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


class EvalStage:
    """One question through a saved student. Picklable; the model loads in ``setup``."""

    name = "eval"

    def __init__(self, model_dir: Path, *, rationale: bool = False, world: Path | None = None,
                 judge: Any = None, classes: StarClasses | None = None, blind: bool = False,
                 fresh_features: bool = False) -> None:
        from aotd.models.student import MARKER

        if not (model_dir / MARKER).is_file():
            raise AotdError(f"{model_dir}: not a saved student (no {MARKER}); pass the model/ folder of a training run")
        self.model_dir, self.rationale, self.judge, self.blind = model_dir, rationale, judge, blind
        self.fresh_features = fresh_features
        self.meta = video_meta(world)
        self.classes = classes
        settings = json.dumps({"rationale": rationale, "judge": getattr(judge, "name", "normalized"),
                               **({"blind": True} if blind else {}),
                               **({"fresh_features": True} if fresh_features else {})}, sort_keys=True)
        self.fingerprint = hashlib.sha256((model_digest(model_dir) + settings).encode()).hexdigest()[:16]
        self._student: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_student": None}

    def key(self, sample: QASample) -> str:
        return sample.sample_id

    def setup(self) -> None:
        from aotd.distill.students import load_student

        reset_peak_memory()  # count what this stage loads, not what the parent process held
        self._student = load_student(self.model_dir)
        self._student.model.eval()

    def process(self, sample: QASample) -> tuple[str, dict[str, float]]:
        from aotd.models.options import answer_prompt, rationale_prompt

        assert self._student is not None, "setup() first"
        started = time.perf_counter()
        frames, source, fps = self._frames(sample)  # once for both prompts
        decoded = time.perf_counter()
        reply = self._student.generate(frames, answer_prompt(sample.question, sample.choice_texts),
                                       max_new_tokens=ANSWER_TOKENS)
        answered = time.perf_counter()
        row = _base_row(sample) | {"reply": reply} | self._score(sample, reply)
        timings = {"decode_s": round(decoded - started, 4), "answer_s": round(answered - decoded, 4)}
        if self.rationale:
            text = self._student.generate(frames, rationale_prompt(sample.question, sample.choice_texts),
                                          max_new_tokens=RATIONALE_TOKENS)
            timings["rationale_s"] = round(time.perf_counter() - answered, 4)
            row["rationale"] = text
            row["grounding"] = self._grounding(sample, text, source, fps)
        row["latency_s"] = round(answered - started, 4)  # decode + answer: what a user waits for
        row["peak_mb"] = peak_memory_mb()
        row["provenance"] = {"aotd": aotd.__version__, "config": self.fingerprint, "stage": self.name,
                             "model": str(self.model_dir), "student": self._student.name}
        return EvalRow.model_validate(row).model_dump_json(), timings

    def _frames(self, sample: QASample) -> tuple[Any, list[int], float]:
        """What the student reads for ``sample``, the source frames and fps. As in training, a
        student with a frozen tower gets features computed once per video and kept on disk;
        with ``fresh_features`` the tower runs on the question's decoded frames, so that the
        latency is what a question about a new video costs."""
        from aotd.data.video import probe_video, sample_video, sampled_indices

        path, student = sample.video.path, self._student
        features = None if self.fresh_features else getattr(student, "video_features", None)
        if features is not None and not self.blind:
            source, fps = sampled_indices(path, student.config.num_frames, start_s=sample.start, end_s=sample.end)
            return features(path, sample.start, sample.end), source, fps
        if self.blind:  # a control: what text alone gets, from black frames of the video's size
            source, fps = sampled_indices(path, start_s=sample.start, end_s=sample.end)
            info = probe_video(path)
            pixels = np.zeros((len(source), info.height, info.width, 3), np.uint8)
        else:
            sampled = sample_video(path, start_s=sample.start, end_s=sample.end)
            pixels, source, fps = sampled.frames, list(sampled.source_indices), sampled.fps
        prepare = getattr(student, "prepare_frames", None)
        return (prepare(pixels) if prepare else pixels), source, fps

    def failed(self, sample: QASample, reason: str) -> str:
        return EvalRow.model_validate(_base_row(sample) | {
            "correct": None, "failure": "crash", "error": reason, "provenance": {"config": self.fingerprint, "stage": self.name}}
        ).model_dump_json()

    def _score(self, sample: QASample, reply: str) -> dict[str, Any]:
        if sample.answer is None:
            return {"correct": None, "error": "unlabelled"}
        if sample.choice_texts:
            parsed = parse_option(reply, sample.choice_texts, rng_seed=sample.sample_id)
            prediction = sample.choice_texts[parsed.index]
            return {"prediction": prediction, "parsed_by": parsed.method, "fallback": parsed.fallback,
                    "correct": prediction == sample.answer}
        if self.judge is None:
            return {"prediction": reply, "correct": normalized_match(reply, sample.answer), "judge": "normalized"}
        verdict = self.judge.score(sample.question, sample.answer, reply)
        return {"prediction": reply, "correct": verdict.correct, "score": verdict.score, "judge": verdict.method,
                "judge_reply": verdict.reply, **({"error": verdict.error} if verdict.error else {})}

    def _grounding(self, sample: QASample, text: str, source: list[int], fps: float) -> dict[str, Any] | None:
        return grounding_of(sample, text, source, fps, self.classes, self.meta)


def grounding_of(sample: QASample, text: str, source: list[int], fps: float | None, classes: StarClasses | None,
                 meta: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A rationale's grounding scores on the sample's sampled frames (``source``), or None when
    there are no annotations to score against (no situations, no class files, no fps)."""
    if not sample.situations or classes is None or not source or not fps:
        return None
    actions = (meta.get(sample.video.video_id) or {}).get("actions")
    truth = ground_truth(sample, source, fps, classes, video_actions=actions)
    return grounding_row(score_grounding(parse_grounding(text), truth))


def grounding_row(score: GroundingScore) -> dict[str, Any]:
    t, s = score.temporal, score.spatial
    return {"temporal_ious": [round(i, 4) for i in t.ious], "gt": t.gt, "gt_found": t.gt_found,
            "box_ious": [round(i, 4) for i in s.ious], "frameless": s.frameless, "unannotated": s.unannotated,
            "invalid": score.invalid}


def _from_row(g: dict[str, Any]) -> GroundingScore:
    return GroundingScore(temporal=TemporalScore(ious=tuple(g["temporal_ious"]), gt=g["gt"], gt_found=g["gt_found"]),
                          spatial=BoxScore(ious=tuple(g["box_ious"]), frameless=g["frameless"],
                                           unannotated=g["unannotated"]),
                          invalid=g["invalid"])


def _base_row(sample: QASample) -> dict[str, Any]:
    return {"sample_id": sample.sample_id, "dataset": sample.dataset, "split": sample.split,
            "question_type": sample.question_type, "question": sample.question, "choices": sample.choice_texts,
            "answer": sample.answer}


def video_meta(world: Path | None) -> dict[str, dict[str, Any]]:
    """The world's per-video metadata (fps, action windows), or nothing for other datasets."""
    if world is None or not (world / "annotations" / "videos.json").is_file():
        return {}
    from aotd.eval.grounding import load_video_meta

    return load_video_meta(world)


def summarize_rows(rows: Iterable[EvalRow], *, expected: int | None = None) -> dict[str, Any]:
    """Accuracy overall and per type, fallbacks, grounding (Table 7) and cost, over the rows given."""
    rows = list(rows)
    acc = accuracy_summary(rows).to_json()
    latencies = sorted(r.latency_s for r in rows if r.latency_s is not None)
    out: dict[str, Any] = {"scored": sum(r.correct is not None for r in rows), "rows": len(rows),
                           **({"expected": expected, "complete": len(rows) >= expected} if expected is not None else {}),
                           "accuracy": acc, "errors": sum(bool(r.error) for r in rows)}
    grounded = [_from_row(r.grounding) for r in rows if r.grounding]
    if grounded:
        out["grounding"] = grounding_summary(grounded)
    if latencies:  # says how many rows it covers: an agent trace whose timing was lost has none
        out["cost"] = {"latency_s_mean": round(sum(latencies) / len(latencies), 4),
                       "latency_s_p50": latencies[len(latencies) // 2],
                       "peak_mb": max(r.peak_mb or 0 for r in rows),
                       "samples": len(latencies), "of": len(rows), "partial": len(latencies) < len(rows)}
    return out


def run_eval(samples: list[QASample], stage: EvalStage, out: Path,
             options: RunOptions | None = None) -> tuple[RunReport, dict[str, Any]]:
    """Evaluate every sample ``out`` does not hold yet; the report and the summary of ``out``."""
    if not samples:
        raise AotdError("no questions to evaluate: the split is empty (check --split and the dataset path)")
    options = options or RunOptions()
    report = run_stage(stage, samples, out, **options.stage_kwargs())
    ids = {s.sample_id for s in samples}
    rows = [r for r in read_records(out, EvalRow) if r.sample_id in ids]
    return report, summarize_rows(rows, expected=len(ids) if options.shard is None else report.items)
