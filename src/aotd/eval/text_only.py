"""A text-only multiple-choice baseline: how much of a dataset the words alone answer.

A conditional-logit model scores each option from hashed features of the text only — the
question's words, the option's words, every (question word, option word) pair and the
option's position — and is trained on a train split with softmax over the options. No pixel
is read. On a dataset where vision is necessary it stays near chance; the embedded world's
contract is at most 30% with four options.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aotd.data.schema import QASample

BUCKETS = 1 << 18
_WORD = re.compile(r"[a-z]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def option_features(question: str, option: str, position: int) -> list[int]:
    """Hashed feature ids of one (question, option) pair."""
    q, o = sorted(set(_words(question))), sorted(set(_words(option)))
    names = [f"q:{w}" for w in q] + [f"o:{w}" for w in o] + [f"qo:{a}|{b}" for a in q for b in o]
    names += [f"pos:{position}", f"opt:{option.lower()}", f"pos-opt:{position}|{option.lower()}"]
    return [zlib.crc32(n.encode()) % BUCKETS for n in names]


@dataclass
class _Batch:
    ids: torch.Tensor  # all feature ids, flat
    offsets: torch.Tensor  # start of each (sample, option) bag
    n_options: int
    labels: torch.Tensor


def _encode(samples: Sequence[QASample]) -> _Batch:
    ids: list[int] = []
    offsets: list[int] = []
    labels: list[int] = []
    width = max(len(s.choices) for s in samples)
    for s in samples:
        texts = s.choice_texts
        for k in range(width):
            offsets.append(len(ids))
            if k < len(texts):
                ids.extend(option_features(s.question, texts[k], k))
        labels.append(int(s.answer_index if s.answer_index is not None else -100))
    return _Batch(torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long), width,
                  torch.tensor(labels, dtype=torch.long))


class TextOnlyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weights = nn.EmbeddingBag(BUCKETS, 1, mode="sum")
        nn.init.zeros_(self.weights.weight)

    def logits(self, batch: _Batch) -> torch.Tensor:
        scores = self.weights(batch.ids, batch.offsets).view(-1, batch.n_options)
        empty = batch.offsets.diff(append=torch.tensor([len(batch.ids)])).view(-1, batch.n_options) == 0
        return scores.masked_fill(empty, float("-inf"))  # a question with fewer options

    def fit(self, samples: Sequence[QASample], *, epochs: int = 30, lr: float = 0.05, l2: float = 1e-4,
            batch_size: int = 64, seed: int = 0) -> TextOnlyModel:
        labelled = [s for s in samples if s.answer_index is not None and s.choices]
        if not labelled:
            raise ValueError("the text-only baseline needs labelled multiple-choice samples to train on")
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        for _ in range(epochs):
            for idx in torch.randperm(len(labelled), generator=gen).split(batch_size):
                batch = _encode([labelled[int(i)] for i in idx])
                logits = self.logits(batch)
                loss = nn.functional.cross_entropy(logits, batch.labels)
                used = self.weights(batch.ids, batch.offsets)  # L2 on the features this batch touched
                loss = loss + l2 * used.pow(2).sum() / len(idx)
                opt.zero_grad()
                loss.backward()
                opt.step()
        return self

    @torch.no_grad()
    def predict(self, samples: Sequence[QASample]) -> np.ndarray:
        return self.logits(_encode(samples)).argmax(-1).numpy()


def text_only_accuracy(train: Sequence[QASample], test: Sequence[QASample], *, seed: int = 0) -> dict[str, float]:
    """Accuracy of the text-only model trained on ``train``, on ``test``: overall and per question type."""
    test = [s for s in test if s.answer_index is not None and s.choices]
    if not test:
        raise ValueError("the text-only baseline needs labelled multiple-choice samples to score")
    torch.manual_seed(seed)
    model = TextOnlyModel().fit(train, seed=seed)
    hits = model.predict(test) == np.array([s.answer_index for s in test])
    return _by_type(test, hits)


def _by_type(samples: Sequence[QASample], hits: np.ndarray) -> dict[str, float]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for s, h in zip(samples, hits):
        groups[s.question_type or "all"].append(bool(h))
    out = {"overall": float(np.mean(hits)), "n": float(len(samples))}
    out.update({k: float(np.mean(v)) for k, v in sorted(groups.items())})
    return out


def answer_position_accuracy(train: Sequence[QASample], test: Sequence[QASample]) -> float:
    """Always answering the position most often right in ``train``: the crudest text-free bias."""
    counts = Counter(s.answer_index for s in train if s.answer_index is not None)
    best = counts.most_common(1)[0][0] if counts else 0
    scored = [s for s in test if s.answer_index is not None]
    return float(np.mean([s.answer_index == best for s in scored])) if scored else 0.0
