"""Every record a step writes, typed, and the one reader of their JSONL files.

A sample (``data.schema.QASample``) gets step 1's scores (``AnswerScore``), becomes a plan and a
trace (step 2), a CoT record holding that trace (step 3), answer and rationale training records
(step 4) and evaluation rows (``EvalRow``). Each file holds
one JSON record per line. ``read_records`` reads any of them the same way: a torn or malformed
line, one without a ``sample_id``, or one that is not a record of the kind expected is named as
``file:line`` and either raised (``bad`` is None) or skipped into ``bad``, for the caller to
warn about and count. Records written by older versions still load: keys a record no longer
has are ignored (a CoT record used to repeat nine of its trace's fields), new ones have defaults.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from aotd.errors import AotdError


class JsonlError(AotdError):
    """A records file that cannot be used as it is."""


@dataclass
class BadLine:
    """A line of a records file that was skipped, and why."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


# --- step 1 ------------------------------------------------------------------------------------
class AnswerScore(BaseModel):
    """Step 1's record of one question: whether each planner's program (on oracle perception)
    and each QA candidate answered it right. A question whose scoring broke has ``failure``
    and counts as wrong for every candidate."""

    sample_id: str
    correct: dict[str, bool] = Field(default_factory=dict)
    failure: str | None = None
    error: str | None = None
    provenance: dict[str, str] = Field(default_factory=dict)


# --- step 2 ------------------------------------------------------------------------------------
class Plan(BaseModel):
    """A program for one question, with what produced it (an LLM's reply, or a rule planner)."""

    program: str
    planner: str
    prompt_hash: str
    reply: str
    error: str | None = None


class TraceRecord(BaseModel):
    """One question run by the agent: the program, what it called and what it answered."""

    sample_id: str
    dataset: str
    split: str
    video_id: str
    question_type: str | None = None
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
    provenance: dict[str, str] = Field(default_factory=dict)


# --- step 3 ------------------------------------------------------------------------------------
class Verdict(BaseModel):
    """One verification stage's decision on one sample.

    ``passed`` is None when the stage was not run (an earlier stage rejected the sample and
    ``cot.judge_all`` is off, or there was nothing to judge).
    """

    passed: bool | None = None
    method: str  # "exact", "normalized", "rules", "llm:<model>"
    reason: str | None = None  # why it failed, or which checks failed (rules), or the parse problem
    reply: str | None = None  # the judge LLM's raw reply, when an LLM judged


class CotRecord(BaseModel):
    """Step 3's record of one trace: the rationale, both verdicts and the trace itself.

    Every trace gets one, kept or not, so the unfiltered ablation (paper Table 6) trains from
    the same file as the filtered run: ``kept`` is the two-step filter, ``answer``/``quality``
    say which stage said what. The question, its label and the prediction are the trace's,
    read through it (``record.question`` is ``record.trace.question``).
    """

    sample_id: str
    rationale: str | None = None
    converter: str | None = None
    answer: Verdict | None = None  # stage (i): the program's answer matches the label
    quality: Verdict | None = None  # stage (ii): the rationale is step by step and helps answer
    kept: bool = False
    failure: str | None = None  # "trace:<reason>", "convert:<reason>", "judge:<reason>", "crash"
    error: str | None = None
    trace: TraceRecord
    provenance: dict[str, str] = Field(default_factory=dict)

    @property
    def dataset(self) -> str:
        return self.trace.dataset

    @property
    def split(self) -> str:
        return self.trace.split

    @property
    def video_id(self) -> str:
        return self.trace.video_id

    @property
    def question_type(self) -> str | None:
        return self.trace.question_type

    @property
    def question(self) -> str:
        return self.trace.question

    @property
    def choices(self) -> list[str]:
        return self.trace.choices

    @property
    def label(self) -> str | None:
        return self.trace.label

    @property
    def prediction(self) -> Any:
        return self.trace.prediction


# --- step 4 ------------------------------------------------------------------------------------
class TrainRecord(BaseModel):
    """One (video, prompt, target) example. ``kind`` says which loss term its target feeds."""

    record_id: str  # "<sample_id>:answer" / "<sample_id>:rationale"
    sample_id: str
    kind: Literal["answer", "rationale"]
    dataset: str
    split: str
    question_type: str | None = None
    video_id: str
    video: str  # path of the video file
    start: float | None = None  # seconds; None = the whole video
    end: float | None = None
    question: str
    choices: list[str]  # empty for open-ended
    prompt: str  # the question, the lettered options and the suffix
    target: str  # "B" (multiple choice), the answer text (open-ended), or the rationale
    answer: str  # the labelled answer text, for evaluation


# --- evaluation --------------------------------------------------------------------------------
class EvalRow(BaseModel):
    """One question scored (``<results>.rows.jsonl``): what a student replied or the agent's trace
    answered, whether it is right, the rationale's grounding and what the answer cost."""

    sample_id: str
    dataset: str
    split: str
    question_type: str | None = None
    question: str
    choices: list[str] = Field(default_factory=list)
    answer: str | None = None  # the label
    prediction: Any = None
    correct: bool | None = None  # None: unscored (no label)
    reply: str | None = None  # a student's raw reply
    parsed_by: str | None = None  # how an option was read from the reply
    fallback: bool | None = None  # no option could be read: the row's option was drawn at random
    score: float | None = None  # an LLM judge's 0-5 score (open-ended)
    judge: str | None = None
    judge_reply: str | None = None
    failure: str | None = None  # why the agent's trace failed
    error: str | None = None
    rationale: str | None = None
    grounding: dict[str, Any] | None = None  # eval.grounding's scores of the rationale
    latency_s: float | None = None  # decode + answer (a student), load + plan + execute (the agent)
    peak_mb: float | None = None
    provenance: dict[str, str] = Field(default_factory=dict)


# --- reading -----------------------------------------------------------------------------------
R = TypeVar("R", bound=BaseModel)


def numbered_jsonl(path: Path, bad: list[BadLine] | None = None,
                   what: str = "record") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each line that is a JSON object with a ``sample_id``; ``what``
    names the kind expected in the message about a line that is not."""
    if not path.is_file():
        raise JsonlError(f"{path}: records file not found")
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                reason = None if isinstance(record, dict) and isinstance(record.get("sample_id"), str) \
                    else f"not a {what} (no sample_id)"
            except ValueError:
                reason = "truncated or malformed JSON"
            if reason is not None:
                if bad is None:
                    raise JsonlError(f"{path}:{number}: {reason}") from None
                bad.append(BadLine(path, number, reason))
                continue
            yield number, record


def read_jsonl(path: Path, bad: list[BadLine] | None = None) -> Iterator[dict[str, Any]]:
    """The records of a JSONL file as dicts (``numbered_jsonl`` without the numbers)."""
    for _, record in numbered_jsonl(path, bad):
        yield record


_NAMES = {AnswerScore: "step-1 score", TraceRecord: "trace", CotRecord: "CoT", TrainRecord: "training", EvalRow: "evaluation"}


def read_records(path: Path, kind: type[R] | Callable[[dict[str, Any]], type[R]], bad: list[BadLine] | None = None,
                 *, limit: int | None = None) -> list[R]:
    """The records of ``path`` as ``kind`` (a record model, or a function of a line's JSON that
    picks one), at most ``limit``. A line that is not one goes to ``bad``, or raises naming the
    file and line when ``bad`` is None."""
    return [record for _, record in numbered_records(path, kind, bad, limit=limit)]


def numbered_records(path: Path, kind: type[R] | Callable[[dict[str, Any]], type[R]],
                     bad: list[BadLine] | None = None, *, limit: int | None = None) -> list[tuple[int, R]]:
    """``read_records`` with each record's line number, for messages and pages that cite it."""
    records: list[tuple[int, R]] = []
    what = f"{_NAMES.get(kind, kind.__name__)} record" if isinstance(kind, type) else "record"
    for number, raw in numbered_jsonl(path, bad, what):
        if limit is not None and len(records) >= limit:
            break
        model = kind if isinstance(kind, type) else kind(raw)
        try:
            records.append((number, model.model_validate(raw)))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            reason = (f"sample {raw.get('sample_id')} is not a {_NAMES.get(model, model.__name__)} record: "
                      f"field '{where}': {error['msg']}")
            if bad is None:
                raise JsonlError(f"{path}:{number}: {reason}") from None
            bad.append(BadLine(path, number, reason))
    return records
