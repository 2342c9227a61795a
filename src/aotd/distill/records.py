"""Training records: one answer record per labelled sample, one rationale record per kept CoT.

Their prompts are the paper's two (``models.options``: the answer prompt and the rationale prompt).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

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
