"""Step 3's record: one per trace, keeping the rationale, both verdicts and the trace itself.

Every trace gets a record, kept or not, so the unfiltered ablation (paper Table 6) trains from
the same file as the filtered run: ``kept`` is the two-step filter, ``answer``/``quality``
say which stage said what. The embedded trace makes a record self-contained for step 4 and
for the viewer.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field

from aotd.agent.run import TraceRecord


class Verdict(BaseModel):
    """One verification stage's decision on one sample.

    ``passed`` is None when the stage was not run (an earlier stage rejected the sample and
    ``cot.judge_all`` is off, or there was nothing to judge).
    """

    passed: bool | None = None
    method: str  # "exact", "normalized", "rules", "llm:<model>"
    reason: str | None = None  # why it failed, or which checks failed (rules), or the parse problem
    reply: str | None = None  # the judge LLM's raw reply, when an LLM judged


class Conversion(BaseModel):
    """A converter's output for one trace: the rationale, or why there is none."""

    rationale: str | None = None
    method: str  # "rules", "llm:<model>"
    reply: str | None = None  # raw LLM reply, before cleaning
    error: str | None = None


class CotRecord(BaseModel):
    sample_id: str
    dataset: str
    split: str
    video_id: str
    question_type: str | None = None
    question: str
    choices: list[str]
    label: str | None
    prediction: Any = None
    rationale: str | None = None
    converter: str | None = None
    answer: Verdict | None = None  # stage (i): the program's answer matches the label
    quality: Verdict | None = None  # stage (ii): the rationale is step by step and helps answer
    kept: bool = False
    failure: str | None = None  # "trace:<reason>", "convert:<reason>", "judge:<reason>"
    error: str | None = None
    trace: TraceRecord
    provenance: dict[str, str] = Field(default_factory=dict)


class Converter(Protocol):
    """Turns a successful trace into a natural-language, step-by-step rationale."""

    name: str

    def convert(self, trace: TraceRecord) -> Conversion: ...


class QualityJudge(Protocol):
    """Stage (ii): does the rationale think step by step and help answer the question?"""

    name: str

    def judge(self, question: str, choices: list[str], answer: str, rationale: str) -> Verdict: ...


class AnswerJudge(Protocol):
    """Stage (i) for open-ended questions: does the prediction mean the label?"""

    name: str

    def check(self, question: str, label: str, prediction: str) -> Verdict: ...
