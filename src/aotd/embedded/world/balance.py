"""Choose the questions and wrong options of a world over its whole pool, so that text alone
cannot tell the answer.

Every template offers more questions than a video keeps, each with the wrong options its text
allows (``questions.py``). Over the pool of all videos this module

1. keeps up to ``per_video`` questions a video, rotating over the families and preferring
   answers its template has given least (answers spread evenly over what a template allows);
2. picks three wrong options a question so that every text feature of an option is the answer
   about one time in four: the option itself, its verb and object, whether it names an object
   of the question, its pairing with each word the question names, and the exact question text.
   An option that is often the answer is shown often as a wrong one too;
3. rejects a question when a text-only count over the pool (leave-one-out, per feature) gives its
   answer a probability above ``max_text_p`` (0.4), then chooses again until none is left.

The answer's position is balanced per template. Everything is seeded, so a world's annotations
are the same byte for byte for the same seed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aotd.embedded.world.questions import Question

OPTIONS = 4
SMOOTH = 1.0  # add-one counts (prior 1/4) in the text-count check
MAX_ROUNDS = 6


@dataclass
class Pick:
    """One kept question of video ``video`` (its index in the pool's video list)."""

    video: int
    question: Question
    order: list[int] = field(default_factory=list)  # option order: indices into [answer, *distractors]


def template_of(q: Question) -> str:
    return f"{q.family}_T{q.template}"


def _parts(q: Question, value: Any) -> dict[str, str]:
    if q.kind == "obj":
        return {"o": str(value)}
    if q.kind == "verb":
        return {"v": str(value)}
    verb, obj = value
    return {"v": str(verb), "o": str(obj)}


def features(q: Question, value: Any) -> dict[Hashable, Hashable]:
    """The text features of one option of ``q``: family -> key. Every option of a question has one
    key in each family, so counts compare like with like."""
    t = template_of(q)
    parts = _parts(q, value)
    named = q.named
    out: dict[Hashable, Hashable] = {"opt": (t, repr(value)), "text": (q.text, repr(value)),
                                     "named": (t, parts.get("o") in named or parts.get("v") in named)}
    for name, part in parts.items():
        out[("part", name)] = (t, part)
        for slot, word in q.slots.items():
            out[("pair", slot, name)] = (t, slot, word, part)
    return out


class _Features:
    """``features`` of each (question, option), computed once per ``balance``: the rounds of
    choosing and checking ask for the same ones hundreds of thousands of times."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, Any], tuple[Question, dict[Hashable, Hashable]]] = {}

    def __call__(self, q: Question, value: Any) -> dict[Hashable, Hashable]:
        key = (id(q), value)
        hit = self._memo.get(key)
        if hit is None or hit[0] is not q:
            hit = self._memo[key] = (q, features(q, value))  # holding q: its id is not reused meanwhile
        return hit[1]


class _Counts:
    """How often each feature key is shown and how often it is the answer."""

    def __init__(self) -> None:
        self.answer: Counter[Hashable] = Counter()
        self.shown: Counter[Hashable] = Counter()

    def add(self, picks: Sequence[Pick], feats: _Features) -> None:
        for p in picks:
            q = p.question
            for key in feats(q, q.answer).values():
                self.answer[key] += 1
                self.shown[key] += 1
            for d in q.distractors:
                for key in feats(q, d).values():
                    self.shown[key] += 1


def assign_distractors(picks: Sequence[Pick], rng: np.random.Generator, *, consider: int = 32,
                       feats: _Features | None = None) -> None:
    """Give every question three wrong options from its ``allowed`` list, each chosen where its
    features are most short of being shown four times as often as they are the answer."""
    feats = feats or _Features()
    answer: Counter[Hashable] = Counter()
    for p in picks:
        for key in feats(p.question, p.question.answer).values():
            answer[key] += 1
    shown = Counter(answer)  # every answer is shown once
    need: dict[Hashable, float] = {}  # each key's shortfall below, kept current as ``shown`` grows

    def shortfall(key: Hashable) -> float:
        value = need.get(key)
        if value is None:
            value = need[key] = (OPTIONS * answer[key] - shown[key]) / (OPTIONS * answer[key] + OPTIONS)
        return value

    for k in rng.permutation(len(picks)):
        q = picks[int(k)].question
        pool = list(q.allowed)
        if len(pool) > consider:
            pool = [pool[int(i)] for i in rng.choice(len(pool), size=consider, replace=False)]
        keys = [list(feats(q, v).values()) for v in pool]
        chosen: list[Any] = []
        for _ in range(OPTIONS - 1):
            scores = [sum(shortfall(key) for key in ks) for ks in keys]
            jitter = rng.uniform(0.0, 0.05, size=len(pool))
            best = int(np.argmax(np.asarray(scores) + jitter))
            chosen.append(pool.pop(best))
            for key in keys.pop(best):
                shown[key] += 1
                need.pop(key, None)
        q.distractors = chosen


def text_probability(picks: Sequence[Pick], feats: _Features | None = None) -> np.ndarray:
    """For each question, the largest probability any one feature's count over the rest of the
    pool (this question left out) gives its answer: 1/4 when text says nothing."""
    feats = feats or _Features()
    counts = _Counts()
    counts.add(picks, feats)
    out = np.empty(len(picks))
    for n, p in enumerate(picks):
        q = p.question
        options = [feats(q, q.answer), *(feats(q, d) for d in q.distractors)]
        best = 0.0
        for family, answer_key in options[0].items():
            keys = [o[family] for o in options]
            own = Counter(keys)  # this question's own shows of each key, left out
            rates = [(counts.answer[k] - (k == answer_key) + SMOOTH) / (counts.shown[k] - own[k] + OPTIONS * SMOOTH)
                     for k in keys]
            best = max(best, rates[0] / sum(rates))
        out[n] = best
    return out


def cap_per_video(candidates: Sequence[Sequence[Question]], per_video: int, rng: np.random.Generator,
                  families: Sequence[str]) -> list[Pick]:
    """Up to ``per_video`` questions a video: families in turn, and within a family the question
    whose (template, answer) the pool has kept least so far."""
    given: Counter[tuple[str, str]] = Counter()
    picks: list[Pick] = []
    for video, qs in enumerate(candidates):
        by_family = {f: [qs[int(k)] for k in rng.permutation(len(qs)) if qs[int(k)].family == f] for f in families}
        kept = 0
        while kept < per_video and any(by_family.values()):
            for f in families:
                pool = by_family[f]
                if not pool or kept >= per_video:
                    continue
                best = min(range(len(pool)), key=lambda i: given[(template_of(pool[i]), repr(pool[i].answer))])
                q = pool.pop(best)
                given[(template_of(q), repr(q.answer))] += 1
                picks.append(Pick(video, q))
                kept += 1
    return picks


def balance(candidates: Sequence[Sequence[Question]], per_video: int, rng: np.random.Generator,
            families: Sequence[str], *, max_text_p: float = 0.4) -> tuple[list[Pick], dict[str, Any]]:
    """Choose questions and options for every video (see the module docstring); returns the picks
    in video order and a summary for the world's manifest."""
    offered = sum(len(qs) for qs in candidates)
    # a wider pool than kept, so that rejected questions can be replaced from the same videos
    wide = cap_per_video(candidates, 2 * per_video, rng, families)
    feats = _Features()
    rejected = 0
    for _ in range(MAX_ROUNDS):
        assign_distractors(wide, rng, feats=feats)
        wide, dropped, p = _reject(wide, max_text_p, feats)
        rejected += dropped
        if not dropped:
            break
    by_video: list[list[Question]] = [[] for _ in candidates]
    for x in wide:
        by_video[x.video].append(x.question)
    picks = cap_per_video(by_video, per_video, rng, families)
    assign_distractors(picks, rng, feats=feats)
    dropped = 1
    while dropped:  # removing a question changes the others' counts: repeat to a fixed point
        picks, dropped, p = _reject(picks, max_text_p, feats)
        rejected += dropped
    _order_options(picks, rng)
    picks.sort(key=lambda x: x.video)
    summary = {"offered": offered, "kept": len(picks), "rejected_by_text_check": rejected,
               "max_text_probability": round(float(p.max()) if len(p) else 0.0, 3), "max_text_p": max_text_p}
    return picks, summary


def _reject(picks: list[Pick], max_text_p: float, feats: _Features) -> tuple[list[Pick], int, np.ndarray]:
    """Drop the questions whose answer the text count makes likelier than ``max_text_p``; returns
    what is kept, how many went, and the kept questions' probabilities (before the drop)."""
    p = text_probability(picks, feats)
    bad = p > max_text_p
    return [x for x, b in zip(picks, bad) if not b], int(bad.sum()), p[~bad]


def _order_options(picks: Sequence[Pick], rng: np.random.Generator) -> None:
    """Shuffle options so that each template's answer falls on each position equally often."""
    slots: dict[str, list[int]] = {}
    for k in rng.permutation(len(picks)):
        pick = picks[int(k)]
        queue = slots.setdefault(template_of(pick.question), [])
        if not queue:
            queue.extend(int(i) for i in rng.permutation(OPTIONS))
        position = queue.pop()
        rest = [int(i) + 1 for i in rng.permutation(OPTIONS - 1)]
        pick.order = rest[:position] + [0] + rest[position:]
