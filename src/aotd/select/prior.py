"""The text-only answer prior: step 1's reference row and the decomposition metric's blind QA.

It answers with the option most often right for questions of the same shape in training
labels, without looking at the video. Learning from labels is why it lives here and not among
the tools: the agent's tools must read pixels (``aotd.tools.registry`` does not offer it).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from aotd.data.schema import QASample
from aotd.data.star_program import normalize
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
