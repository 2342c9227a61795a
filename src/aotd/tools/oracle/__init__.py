"""Oracle tools: the tool protocols answered from a sample's annotations.

They exist for step 1 — to feed ground truth to every step before the one under test — and
for tests. They are never used to build CoTs: the agent's toolset is built from embedded or
real candidates only (``aotd.tools.registry`` refuses "oracle" outside step 1).

Everything is read from STAR situations (key frames with boxes, labels and active actions),
so the oracles work on the embedded world and on real STAR annotations alike. A sampled frame
takes the annotations of the nearest key frame within ``max_gap`` source frames.
"""

from __future__ import annotations

from aotd.data.schema import QASample, Situation
from aotd.data.star_classes import StarClasses
from aotd.data.text import tokens
from aotd.tools.clip import Clip
from aotd.tools.types import Action, Box, Window


class OracleTools:
    """Detector, grounder, recognizer and QA for one sample, from its situations."""

    name = "oracle"

    def __init__(self, sample: QASample, classes: StarClasses, source_indices: list[int], max_gap: int = 2) -> None:
        self.sample, self.classes = sample, classes
        keyframes = sorted((sample.situations or {}).values(), key=lambda s: s.frame)
        self.by_id: dict[int, Situation] = {}
        for fid, src in enumerate(source_indices):
            near = min(keyframes, key=lambda s: abs(s.frame - src), default=None)
            if near is not None and abs(near.frame - src) <= max_gap:
                self.by_id[fid] = near

    # Detector
    def detect(self, clip: Clip, query: str) -> list[Box]:
        oid = self.classes.object_id(query)
        boxes = []
        for fid in clip.ids:
            situation = self.by_id.get(fid)
            if situation is None or oid is None:
                continue
            for box, label in zip(situation.bbox, situation.bbox_labels):
                if label == oid:
                    boxes.append(Box(fid, *box, label=query, score=1.0))
                    break
        return boxes

    # action windows in sampled ids
    def action_windows(self, clip: Clip) -> list[tuple[str, Window]]:
        spans: dict[str, list[int]] = {}
        for fid in clip.ids:
            situation = self.by_id.get(fid)
            for aid in situation.actions if situation else []:
                spans.setdefault(aid, []).append(fid)
        out = [(aid, Window(min(ids), max(ids))) for aid, ids in spans.items() if aid in self.classes.action_map]
        return sorted(out, key=lambda item: item[1].start)

    # TemporalGrounder
    def ground(self, clip: Clip, query: str) -> Window | None:
        """The window of the annotated action whose verb and object the query names."""
        words = tokens(query)
        for aid, window in self.action_windows(clip):
            verb, obj = self.classes.action_verb(aid), self.classes.action_object(aid)
            if verb in words and (obj in query or tokens(obj) <= words):
                return window
        return None

    # ActionRecognizer
    def recognize(self, clip: Clip, obj: str | None = None) -> list[Action]:
        actions = [Action(self.classes.action_verb(aid), self.classes.action_object(aid), 1.0, window)
                   for aid, window in self.action_windows(clip)]
        return [a for a in actions if obj is None or a.obj == obj]

    # QuestionAnswerer
    def answer(self, clip: Clip, question: str, choices: list[str] | None = None) -> str:
        if self.sample.answer is None:
            return ""
        return self.sample.answer if not choices or self.sample.answer in choices else choices[0]
