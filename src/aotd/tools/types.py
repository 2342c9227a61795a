"""Typed tool outputs: frame windows, boxes and actions, always in sampled frame ids (0..31).

Programs read their attributes (``w.start``, ``b.label``, ``a.verb``) through the sandbox's
allowlist (``__sandbox_attributes__``); traces and rationales serialise them with ``to_json``
so that grounding (windows, boxes) survives into CoTs and can be scored later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Window:
    """An inclusive range of sampled frame ids, e.g. frames 12..18 of 0..31."""

    start: int
    end: int
    score: float = 1.0

    __sandbox_attributes__ = ("start", "end", "score", "length")

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def iou(self, other: Window) -> float:
        inter = max(0, min(self.end, other.end) - max(self.start, other.start) + 1)
        union = self.length + other.length - inter
        return inter / union

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "score": round(self.score, 4)}

    def describe(self) -> str:
        return f"from frame {self.start} to frame {self.end}"


@dataclass(frozen=True)
class Box:
    """A detection in one sampled frame, pixel coordinates [x1, y1, x2, y2]."""

    frame: int
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    score: float = 1.0

    __sandbox_attributes__ = ("frame", "x1", "y1", "x2", "y2", "label", "score", "area")

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "box": [round(v, 1) for v in (self.x1, self.y1, self.x2, self.y2)],
                "label": self.label, "score": round(self.score, 4)}

    def describe(self) -> str:
        x1, y1, x2, y2 = (round(v) for v in (self.x1, self.y1, self.x2, self.y2))
        return f"[{x1}, {y1}, {x2}, {y2}] in frame {self.frame}"


@dataclass(frozen=True)
class Action:
    """A recognised action: a verb applied to an object, with where it happens if known."""

    verb: str
    obj: str
    score: float = 1.0
    window: Window | None = None

    __sandbox_attributes__ = ("verb", "obj", "score", "window", "text")

    @property
    def text(self) -> str:
        return f"{self.verb} {self.obj}"

    def to_json(self) -> dict[str, Any]:
        return {"verb": self.verb, "obj": self.obj, "score": round(self.score, 4),
                "window": None if self.window is None else self.window.to_json()}
