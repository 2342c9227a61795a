"""Typed records shared by every stage.

One ``QASample`` per question, whatever the source format; loaders map their dataset onto
it and keep anything format-specific in ``extra``. Records serialise to JSON lines with
``model_dump(mode="json")`` so that stages can exchange them as files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

NUM_FRAMES = 32
"""The paper's convention: 32 uniformly sampled frames, ids 0..31 downstream."""

QUESTION_FAMILIES = ("Interaction", "Sequence", "Prediction", "Feasibility")
"""STAR's four question families."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class VideoInfo(_Record):
    """Where a video lives and what is known about it before decoding."""

    video_id: str
    path: Path | None = None
    fps: float | None = Field(default=None, gt=0)
    num_frames: int | None = Field(default=None, ge=0)
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)


class ProgramStep(_Record):
    """One operator of a STAR-style postfix program: literals in ``value_input`` first."""

    function: str
    value_input: list[Any] = Field(default_factory=list)


class Choice(_Record):
    """A multiple-choice option; STAR also gives a program that judges it."""

    choice_id: int
    text: str
    program: list[ProgramStep] | None = None


class Situation(_Record):
    """One annotated key frame: STAR's scene graph (ids like o003 / r001 / a012)."""

    frame: int = Field(ge=0, description="source frame index in the video")
    actions: list[str] = Field(default_factory=list)
    bbox: list[list[float]] = Field(default_factory=list)
    bbox_labels: list[str] = Field(default_factory=list)
    rel_pairs: list[list[str]] = Field(default_factory=list)
    rel_labels: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _aligned(self) -> Situation:
        if len(self.bbox) != len(self.bbox_labels):
            raise ValueError(
                f"frame {self.frame}: {len(self.bbox)} boxes but {len(self.bbox_labels)} bbox_labels"
            )
        if len(self.rel_pairs) != len(self.rel_labels):
            raise ValueError(
                f"frame {self.frame}: {len(self.rel_pairs)} rel_pairs but {len(self.rel_labels)} rel_labels"
            )
        for box in self.bbox:
            if len(box) != 4:
                raise ValueError(f"frame {self.frame}: a box has {len(box)} numbers, expected 4 (x1, y1, x2, y2)")
        return self


class QASample(_Record):
    """One question about one video, in any dataset's terms."""

    sample_id: str
    dataset: str
    split: str
    video: VideoInfo
    question: str
    choices: list[Choice] = Field(default_factory=list)
    answer: str | None = None
    answer_index: int | None = None
    question_type: str = ""
    template: str | None = None
    program: list[ProgramStep] | None = None
    situations: dict[str, Situation] | None = None
    start: float | None = Field(default=None, ge=0, description="window start, seconds")
    end: float | None = Field(default=None, ge=0, description="window end, seconds")
    open_ended: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("question", "answer")
    @classmethod
    def _non_empty(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.strip():
            hint = " (leave it out for unlabelled test sets)" if info.field_name == "answer" else ""
            raise ValueError(f"must not be empty{hint}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> QASample:
        if self.answer_index is not None:
            if not 0 <= self.answer_index < len(self.choices):
                raise ValueError(
                    f"answer_index {self.answer_index} outside the {len(self.choices)} choices"
                )
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"window end {self.end} is before start {self.start}")
        return self

    @property
    def labelled(self) -> bool:
        return self.answer is not None

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices) and not self.open_ended

    @property
    def choice_texts(self) -> list[str]:
        return [c.text for c in self.choices]

    @property
    def family(self) -> str:
        """STAR family (Interaction, ...) or the dataset's own question type."""
        return self.question_type


class Dataset(BaseModel):
    """Samples of one split (or all splits) of one dataset, loaded from ``source``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    format: str
    source: Path
    samples: list[QASample]

    def by_split(self, split: str) -> list[QASample]:
        return [s for s in self.samples if s.split == split]

    def splits(self) -> list[str]:
        return sorted({s.split for s in self.samples})

    def __len__(self) -> int:
        return len(self.samples)

