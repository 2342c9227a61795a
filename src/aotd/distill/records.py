"""Training records: one answer record per labelled sample, one rationale record per kept CoT.

The suffix prompts are the paper's: a task-specific one asks for the answer, and "Explain the
rationale to answer the question." asks for the CoT, so one model learns both modes and the
prompt chooses at inference (Sec. 3.4).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

MC_SUFFIX = "Answer with the option's letter from the given choices directly and only give the best option."
OE_SUFFIX = "Answer in one word or phrase."
RATIONALE_SUFFIX = "Explain the rationale to answer the question."
LETTERS = "ABCDEFGHIJ"

Kind = Literal["answer", "rationale"]


class TrainRecord(BaseModel):
    """One (video, prompt, target) example. ``kind`` says which loss term its target feeds."""

    record_id: str  # "<sample_id>:answer" / "<sample_id>:rationale"
    sample_id: str
    kind: Kind
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


def question_block(question: str, choices: list[str]) -> str:
    """The question and its lettered options, as the paper's prompts lay them out."""
    lines = [question.strip()]
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def answer_prompt(question: str, choices: list[str]) -> str:
    return question_block(question, choices) + "\n" + (MC_SUFFIX if choices else OE_SUFFIX)


def rationale_prompt(question: str, choices: list[str]) -> str:
    return question_block(question, choices) + "\n" + RATIONALE_SUFFIX


def answer_target(answer: str, choices: list[str]) -> str:
    """The option's letter for multiple choice, the answer text for open-ended."""
    return LETTERS[choices.index(answer)] if choices else answer
