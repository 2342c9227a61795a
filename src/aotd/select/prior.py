"""The text-only answer prior: step 1's reference row and the decomposition metric's blind QA.

It answers with the option most often right for questions of the same shape in training
labels, without looking at the video. Learning from labels is why it lives here and not among
the tools: the agent's tools must read pixels (``aotd.tools.registry`` does not offer it).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from aotd.data.schema import QASample
from aotd.data.star_classes import StarClasses
from aotd.data.star_program import normalize
from aotd.errors import AotdError
from aotd.tools.clip import Clip


def acted_on(classes: StarClasses) -> tuple[str, ...]:
    """The objects some action class acts on, in the class files' order: the names a question's
    shape masks (the actor and the furniture no one acts on stay part of the shape)."""
    named = {classes.action_object(aid) for aid in classes.actions}
    return tuple(name for name in classes.objects.values() if name in named)


def question_shape(question: str, objects: Sequence[str]) -> str:
    """The question with ``objects``' names masked: 'What did the person do with the <obj>?'."""
    text = question.lower()
    for name in sorted(objects, key=len, reverse=True):
        text = text.replace(name, "<obj>")
    return re.sub(r"\s+", " ", text).strip()


class PriorQA:
    name = "prior"

    def __init__(self, by_shape: dict[str, Counter[str]], overall: Counter[str], objects: Sequence[str]) -> None:
        self.by_shape, self.overall, self.objects = by_shape, overall, tuple(objects)

    @classmethod
    def fit(cls, samples: list[QASample], classes: StarClasses) -> PriorQA:
        """Answer counts per question shape in ``samples``' labels, objects masked by ``classes``'."""
        objects = acted_on(classes)
        by_shape: dict[str, Counter[str]] = {}
        overall: Counter[str] = Counter()
        for s in samples:
            if s.answer is None:
                continue
            key = normalize(s.answer)
            by_shape.setdefault(question_shape(s.question, objects), Counter())[key] += 1
            overall[key] += 1
        return cls(by_shape, overall, objects)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"by_shape": self.by_shape, "overall": self.overall, "objects": self.objects}))

    @classmethod
    def load(cls, path: Path) -> PriorQA:
        raw = json.loads(path.read_text())
        if "objects" not in raw:
            raise AotdError(f"{path}: a prior saved before it kept its masked object names; fit it again "
                            "(PriorQA.fit on the labelled split and the dataset's class files)")
        return cls({k: Counter(v) for k, v in raw["by_shape"].items()}, Counter(raw["overall"]), raw["objects"])

    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        shape = self.by_shape.get(question_shape(question, self.objects), Counter())
        if not choices:
            best = (shape or self.overall).most_common(1)
            return best[0][0] if best else ""
        scores = [(shape[normalize(c)], self.overall[normalize(c)]) for c in choices]
        return choices[max(range(len(choices)), key=lambda i: (scores[i], -i))]
