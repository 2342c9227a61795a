"""One-hop question answerers for the embedded world.

Two read pixels and may serve the agent:

* ``PresenceQA`` ("presence") scores each option by how often the object it names is
  detected in the clip — it ignores what happens, so it is the weaker one;
* ``VisualQA`` ("visual") scores an action option by the recognizer's score for it and an
  object option by how often it is detected and acted on.

The text-only answer prior lives in ``aotd.select.prior``: it learns from labels, so it is a
step-1 reference and never a tool.
"""

from __future__ import annotations

from aotd.data.text import tokens
from aotd.embedded.world.vocab import OBJECTS
from aotd.tools.base import ActionRecognizer, Detector
from aotd.tools.clip import Clip


class PresenceQA:
    name = "presence"

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        if not choices:
            return ""
        scores = []
        for choice in choices:
            objects = [name for name, cls in OBJECTS.items() if cls.actionable and name in choice.lower()]
            seen = len({b.frame for b in self.detector.detect(clip, objects[0])}) if objects else 0
            scores.append(seen / max(1, len(clip)))
        return choices[max(range(len(choices)), key=lambda i: (scores[i], -i))]


class VisualQA:
    name = "visual"

    def __init__(self, detector: Detector, recognizer: ActionRecognizer) -> None:
        self.detector, self.recognizer = detector, recognizer

    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        actions = self.recognizer.recognize(clip)
        if not choices:
            return actions[0].text if actions else ""
        scores = [self._score(clip, c, actions) for c in choices]
        return choices[max(range(len(choices)), key=lambda i: (scores[i], -i))]

    def _score(self, clip: Clip, choice: str, actions: list) -> float:
        words = tokens(choice)
        objects = [name for name, cls in OBJECTS.items() if cls.actionable and name in choice.lower()]
        acted = max((a.score for a in actions if a.verb in words and (not objects or a.obj in objects)), default=0.0)
        if acted or not objects:
            return acted
        seen = len({b.frame for b in self.detector.detect(clip, objects[0])})
        return 0.5 * seen / max(1, len(clip))
