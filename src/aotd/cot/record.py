"""Step 3's parts: a converter's output and what converters and judges offer (the record they
fill, ``CotRecord``, is in ``data.records``)."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from aotd.data.records import TraceRecord, Verdict


class Conversion(BaseModel):
    """A converter's output for one trace: the rationale, or why there is none."""

    rationale: str | None = None
    method: str  # "rules", "llm:<model>"
    reply: str | None = None  # raw LLM reply, before cleaning
    error: str | None = None


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
