"""The embedded world's questions cannot be answered from text: options obey what the text
implies, balance over the pool, and the generator's text-count check (issue 13)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from aotd.data.loaders import load_dataset
from aotd.embedded.world import rules
from aotd.embedded.world.balance import Pick, assign_distractors, balance, features, text_probability
from aotd.embedded.world.questions import TEMPLATES, Context, Question, candidates
from aotd.embedded.world.simulate import simulate
from aotd.embedded.world.vocab import OBJECTS, VERBS, affords
from aotd.eval.text_only import option_features, text_only_accuracy


def _episode_candidates(seed: int, videos: int) -> list[list[Question]]:
    out = []
    for i in range(videos):
        episode = simulate(np.random.default_rng([seed, i]))
        visible = [{n for n, o in f.objects.items() if o.mode != "gone"} for f in episode.frames]
        out.append(candidates(Context(episode, visible, np.random.default_rng([seed, i, 2]))))
    return out


@pytest.fixture(scope="module")
def picks() -> list[Pick]:
    kept, summary = balance(_episode_candidates(31, 40), 12, np.random.default_rng(0), list(TEMPLATES))
    assert summary["kept"] == len(kept) and summary["offered"] > summary["kept"]
    return kept


def _obj(kind: str, value) -> str | None:
    return value if kind == "obj" else (value[1] if kind == "action" else None)


def test_every_option_obeys_what_the_text_implies(picks: list[Pick]) -> None:
    for p in picks:
        q = p.question
        assert len(q.distractors) == 3 and len({repr(v) for v in (q.answer, *q.distractors)}) == 4
        assert all(d in q.allowed for d in q.distractors), q.text
        for value in (q.answer, *q.distractors):
            if q.kind == "obj":
                assert value not in q.named, (q.text, value)  # an answer never copied from the text
                assert affords(q.slots["verb"], OBJECTS[value]), (q.text, value)
            elif q.kind == "verb":
                assert affords(value, OBJECTS[q.slots["obj"]]), (q.text, value)
            else:
                assert affords(value[0], OBJECTS[value[1]]), (q.text, value)
        ref = (q.slots.get("ref_verb"), q.slots.get("ref_obj"))
        if (q.family, q.template) == ("Sequence", 3):
            assert all(rules.can_follow(ref, v) for v in (q.answer, *q.distractors)), q.text
        if (q.family, q.template) == ("Sequence", 4):
            assert all(rules.can_follow(v, ref) for v in (q.answer, *q.distractors)), q.text
        if "held" in q.slots and q.kind == "action":  # "while they were holding X": furniture only
            assert all(OBJECTS[v[1]].fixed for v in (q.answer, *q.distractors)), q.text


def test_hand_rules() -> None:
    assert rules.can_follow(("take", "cup/glass/bottle"), ("put", "cup/glass/bottle"))
    assert not rules.can_follow(("take", "book"), ("put", "cup/glass/bottle"))  # the hand holds the book
    assert not rules.can_follow(("take", "book"), ("take", "towel"))
    assert rules.can_follow(("take", "book"), ("open", "door"))  # furniture opens with the other hand
    assert not rules.can_follow(("take", "book"), ("open", "box"))
    assert not rules.can_follow(("eat", "apple"), ("take", "apple"))  # eaten is gone
    assert all(len(rules.objects_for(v)) >= 4 for v in VERBS)  # every verb has three wrong objects


def test_no_kept_question_is_answered_by_a_text_count(picks: list[Pick]) -> None:
    assert text_probability(picks).max() <= 0.4


def test_text_count_check_finds_a_planted_bias() -> None:
    """A pool where one option is always the answer: the check must see it."""
    qs = [Question("Interaction", 1, "Which object was taken by the person?", [], "obj", "book", (0, 9),
                   slots={"verb": "take"}, allowed=["towel", "shoe", "bag", "pillow"]) for _ in range(30)]
    planted = [Pick(0, q) for q in qs]
    for q in qs:
        q.distractors = ["towel", "shoe", "bag"]
    assert text_probability(planted).min() > 0.4
    assign_distractors(planted, np.random.default_rng(0))  # balancing cannot hide a constant answer
    assert text_probability(planted).min() > 0.4
    kept, summary = balance([qs], 12, np.random.default_rng(0), ["Interaction"])
    assert kept == [] and summary["rejected_by_text_check"] > 0


def test_features_and_positions_are_balanced(picks: list[Pick]) -> None:
    answer, shown = Counter(), Counter()
    for p in picks:
        q = p.question
        for v in (q.answer, *q.distractors):
            key = features(q, v)["opt"]
            shown[key] += 1
            answer[key] += v == q.answer
    common = [k for k in shown if shown[k] >= 12]
    rates = np.array([answer[k] / shown[k] for k in common])
    assert len(common) >= 10 and abs(rates.mean() - 0.25) < 0.05 and rates.max() < 0.45, sorted(rates)
    positions: dict[str, Counter] = {}
    for p in picks:
        positions.setdefault(f"{p.question.family}{p.question.template}", Counter())[p.order.index(0)] += 1
    for t, c in positions.items():
        assert max(c.values()) - min(c.get(k, 0) for k in range(4)) <= 1, t


def test_at_least_twelve_questions_a_video(world_dir: Path) -> None:
    manifest = json.loads((world_dir / "world.json").read_text())
    assert sum(manifest["questions"].values()) >= 12 * manifest["videos"] * 0.9
    assert all(s["max_text_probability"] <= 0.4 for s in manifest["question_pool"].values() if s["kept"])


def test_text_only_baseline_learns_a_biased_dataset(world_dir: Path) -> None:
    """The baseline is strong enough to find text bias: on a copy of the world whose answer is
    always the option naming a verb's most frequent object, it scores far above chance."""
    ds = load_dataset("star", world_dir)
    train, test = ds.by_split("train"), ds.by_split("val") + ds.by_split("test")
    biased = [s.model_copy(update={"answer": s.choice_texts[0], "answer_index": 0}) for s in train + test]
    assert text_only_accuracy(biased[: len(train)], biased[len(train):])["overall"] > 0.9
    assert option_features("Which object?", "The cup.", 0) != option_features("Which object?", "The cup.", 1)


def test_balancing_is_pinned() -> None:
    """The balancer is optimised without changing a choice: every world made before stays
    reproducible. The digest is the one the balancer gave before it memoised features (f90a737)."""
    import hashlib

    picks, summary = balance(_episode_candidates(31, 40), 12, np.random.default_rng(0), list(TEMPLATES))
    chosen = [(p.video, p.question.text, repr(p.question.answer), repr(p.question.distractors), p.order) for p in picks]
    assert (summary["kept"], summary["rejected_by_text_check"]) == (480, 85)
    assert hashlib.sha256(repr(chosen).encode()).hexdigest() == (
        "f952e6d565fcef82f82917794b3c47393a2e6bc55cd6e5526b7cdb822ba91d97")
