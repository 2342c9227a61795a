"""Step 1's text prior: answer counts per question shape, objects masked by the class files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aotd.data.loaders import load_dataset
from aotd.data.star_classes import StarClasses
from aotd.errors import AotdError
from aotd.select.prior import PriorQA, acted_on, question_shape


def test_prior_qa_learns_answer_frequencies_per_question_shape(world_dir: Path, tmp_path: Path) -> None:
    samples = load_dataset("star", world_dir, split="train").samples
    classes = StarClasses.load(world_dir / "annotations" / "classes")
    prior = PriorQA.fit(samples, classes)
    assert "person" not in acted_on(classes) and "table" not in acted_on(classes) and "book" in acted_on(classes)
    assert question_shape("What did the person do with the cup/glass/bottle?",
                          acted_on(classes)) == "what did the person do with the <obj>?"
    hits = sum(prior.answer(None, s.question, s.choice_texts) == s.answer for s in samples)  # type: ignore[arg-type]
    assert hits / len(samples) > 0.25  # better than a blind guess among 4 on its own training split
    prior.save(tmp_path / "prior.json")
    again = PriorQA.load(tmp_path / "prior.json")
    assert [again.answer(None, s.question, s.choice_texts) for s in samples[:50]] == \
        [prior.answer(None, s.question, s.choice_texts) for s in samples[:50]]  # type: ignore[arg-type]


def test_a_prior_saved_without_its_object_names_says_to_fit_again(tmp_path: Path) -> None:
    old = tmp_path / "prior.json"
    old.write_text(json.dumps({"by_shape": {}, "overall": {"book": 2}}))
    with pytest.raises(AotdError, match=r"prior\.json: a prior saved before it kept its masked object names; fit it"):
        PriorQA.load(old)
