"""``aotd distill build``: CoT records + the dataset -> dual-mode training records.

Every labelled sample of the split gets an answer record; every CoT that passes the chosen
filter gets a rationale record. ``cot_filter`` picks the paper's setting (``verified``: both
stages) or an ablation (``answer``: stage (i) only; ``none``: every rationale, Table 9's
"without filtering"); ``no_cot`` builds the Instruct baseline from the same labels.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from aotd.data.records import CotRecord, TrainRecord
from aotd.data.schema import QASample
from aotd.errors import DataError
from aotd.models.options import answer_prompt, answer_target, rationale_prompt

CotFilter = Literal["verified", "answer", "none"]


def keep_cot(record: CotRecord, cot_filter: CotFilter) -> bool:
    if record.rationale is None or record.label is None:
        return False
    if cot_filter == "verified":
        return record.kept
    if cot_filter == "answer":
        return bool(record.answer and record.answer.passed)
    return True


def build_records(samples: Iterable[QASample], cots: Iterable[CotRecord], *, cot_filter: CotFilter = "verified",
                  no_cot: bool = False, source: str = "dataset", max_rationales: int | None = None,
                  shuffle_rationales: bool = False, seed: int = 0) -> list[TrainRecord]:
    """Answer records for the labelled samples, then rationale records for the kept CoTs, both in
    the order of ``samples`` whatever the order of ``cots``.

    A CoT whose sample is not in ``samples`` is an error (the CoT file and the dataset do not
    belong together), as is a sample whose video file is missing: both surface here, before
    any training starts. Two controls: ``max_rationales`` keeps a seeded random subset of that
    many rationales (an ablation that compares quality, not quantity, keeps as many as the
    verified set), and ``shuffle_rationales`` gives each sample another sample's rationale
    (same text, wrong video: does the content matter, or only the extra text?).
    """
    by_id = {s.sample_id: s for s in samples if s.answer is not None}
    out: list[TrainRecord] = []
    for s in by_id.values():
        out.append(_record(s, "answer", answer_prompt(s.question, s.choice_texts), _target(s), source))
    if no_cot:
        return out
    kept: list[tuple[QASample, str]] = []
    for c in cots:
        if not keep_cot(c, cot_filter):
            continue
        s = by_id.get(c.sample_id)
        if s is None:
            raise DataError(f"CoT of sample {c.sample_id} has no labelled sample in {source}; "
                            "build from the dataset (and split) the agent ran on")
        kept.append((s, c.rationale or ""))
    # in the dataset's order, not the CoT file's: a parallel agent writes traces as they finish, and
    # the seeded subset and the shuffle must not depend on which finished first
    position = {sid: k for k, sid in enumerate(by_id)}
    kept.sort(key=lambda pair: position[pair[0].sample_id])
    rng = random.Random(seed)
    if max_rationales is not None and len(kept) > max_rationales:
        kept = [kept[i] for i in sorted(rng.sample(range(len(kept)), max_rationales))]
    if shuffle_rationales and len(kept) > 1:
        texts = [t for _, t in kept]
        shift = rng.randrange(1, len(texts))  # a rotation: no sample keeps its own rationale
        order = list(range(len(texts)))
        rng.shuffle(order)
        moved = {order[k]: texts[order[(k + shift) % len(order)]] for k in range(len(order))}
        kept = [(s, moved[i]) for i, (s, _) in enumerate(kept)]
    for s, text in kept:
        out.append(_record(s, "rationale", rationale_prompt(s.question, s.choice_texts), text, source))
    return out


def _target(s: QASample) -> str:
    assert s.answer is not None
    if s.choices and s.answer not in s.choice_texts:
        raise DataError(f"sample {s.sample_id}: answer {s.answer!r} is not one of its choices")
    return answer_target(s.answer, s.choice_texts)


def _record(s: QASample, kind: Literal["answer", "rationale"], prompt: str, target: str, source: str) -> TrainRecord:
    path = s.video.path
    if path is None or not Path(path).is_file():
        raise DataError(f"{source}: sample {s.sample_id}: video {s.video.video_id} not found"
                        f"{f' at {path}' if path else ''}; pass --video-root or fix the path")
    assert s.answer is not None
    return TrainRecord(record_id=f"{s.sample_id}:{kind}", sample_id=s.sample_id, kind=kind, dataset=s.dataset,
                       split=s.split, question_type=s.question_type, video_id=s.video.video_id, video=str(path),
                       start=s.start, end=s.end, question=s.question, choices=s.choice_texts, prompt=prompt,
                       target=target, answer=s.answer)


def summary(records: list[TrainRecord]) -> dict[str, int]:
    counts = Counter(r.kind for r in records)
    return {"answer": counts["answer"], "rationale": counts["rationale"], "total": len(records)}
