"""What a candidate model for each visual sub-task must provide.

Step 1 scores every registered candidate of a sub-task and the agent runs the chosen ones
behind the one tool API (``aotd.tools.api``). Embedded candidates read pixels only; oracle
candidates read annotations and exist for step 1 and for tests.
"""

from __future__ import annotations

from typing import Protocol

from aotd.tools.clip import Clip
from aotd.tools.types import Action, Box, Window

SUBTASKS = ("decomposition", "detection", "grounding", "recognition", "qa")


class Detector(Protocol):
    name: str

    def detect(self, clip: Clip, query: str) -> list[Box]:
        """Boxes of ``query`` in every frame of ``clip`` (at most one per frame for a class name)."""
        ...


class TemporalGrounder(Protocol):
    name: str

    def ground(self, clip: Clip, query: str) -> Window | None:
        """The frames of ``clip`` where the action described by ``query`` happens, or None."""
        ...


class ActionRecognizer(Protocol):
    name: str

    def recognize(self, clip: Clip, obj: str | None = None) -> list[Action]:
        """Actions in ``clip``, most likely first; only actions on ``obj`` when it is given."""
        ...


class QuestionAnswerer(Protocol):
    name: str

    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        """A one-hop answer: one of ``choices`` when they are given, else a short phrase."""
        ...
