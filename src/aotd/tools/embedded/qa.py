"""One-hop question answerers for the embedded world.

Two read pixels and may serve the agent:

* ``PresenceQA`` ("presence") scores each option by how often the object it names is
  detected in the clip — it ignores what happens, so it is the weaker one;
* ``VisualQA`` ("visual") scores an action option by the recognizer's score for it and an
  object option by how often it is detected and acted on.

``PriorQA`` ("prior") never looks at the video: it answers with the option most often right
for questions of the same shape in training labels. It is step 1's text-only reference row
(how much the questions give away) and the blind answerer behind the decomposition metric; it
never serves the agent, whose tools must read pixels.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from aotd.data.schema import QASample
from aotd.data.star_program import normalize
from aotd.tools.api import tokens
from aotd.tools.base import ActionRecognizer, Detector
from aotd.tools.clip import Clip
from aotd.world.vocab import OBJECTS


def question_shape(question: str) -> str:
    """The question with object names masked: 'What did the person do with the <obj>?'."""
    text = question.lower()
    for name in sorted((n for n, c in OBJECTS.items() if c.actionable), key=len, reverse=True):
        text = text.replace(name, "<obj>")
    return re.sub(r"\s+", " ", text).strip()


class PriorQA:
    name = "prior"

    def __init__(self, by_shape: dict[str, Counter[str]], overall: Counter[str]) -> None:
        self.by_shape, self.overall = by_shape, overall

    @classmethod
    def fit(cls, samples: list[QASample]) -> PriorQA:
        by_shape: dict[str, Counter[str]] = {}
        overall: Counter[str] = Counter()
        for s in samples:
            if s.answer is None:
                continue
            key = normalize(s.answer)
            by_shape.setdefault(question_shape(s.question), Counter())[key] += 1
            overall[key] += 1
        return cls(by_shape, overall)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"by_shape": self.by_shape, "overall": self.overall}))

    @classmethod
    def load(cls, path: Path) -> PriorQA:
        raw = json.loads(path.read_text())
        return cls({k: Counter(v) for k, v in raw["by_shape"].items()}, Counter(raw["overall"]))

    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        shape = self.by_shape.get(question_shape(question), Counter())
        if not choices:
            best = (shape or self.overall).most_common(1)
            return best[0][0] if best else ""
        scores = [(shape[normalize(c)], self.overall[normalize(c)]) for c in choices]
        return choices[max(range(len(choices)), key=lambda i: (scores[i], -i))]


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
