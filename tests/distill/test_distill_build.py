"""Dual-mode training records from CoTs and labels; the export formats; bad input before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aotd.cot.convert import RuleConverter
from aotd.cot.stage import build_cot
from aotd.cot.verify import NormalizedAnswer, RuleJudge
from aotd.data.loaders import load_dataset
from aotd.data.records import TraceRecord, read_records
from aotd.distill.build import build_records, summary
from aotd.distill.export import export, read_train_records
from aotd.errors import AotdError, DataError
from aotd.models.options import MC_SUFFIX, RATIONALE_SUFFIX


@pytest.fixture(scope="module")
def inputs(world_dir: Path, world_traces: Path):
    samples = load_dataset("star", world_dir, split="train").samples
    cots = [build_cot(t, RuleConverter(), RuleJudge(), NormalizedAnswer(), judge_all=True) for t in read_records(world_traces, TraceRecord)]
    return samples, cots


def test_every_labelled_sample_gets_an_answer_record_and_kept_cots_a_rationale(inputs) -> None:
    samples, cots = inputs
    records = build_records(samples, cots)
    answers = [r for r in records if r.kind == "answer"]
    rationales = [r for r in records if r.kind == "rationale"]
    assert len(answers) == len(samples) and len(rationales) == sum(c.kept for c in cots) > 0
    a = answers[0]
    s = next(x for x in samples if x.sample_id == a.sample_id)
    assert a.prompt.startswith(s.question) and a.prompt.endswith(MC_SUFFIX) and "\nA. " in a.prompt
    assert a.target == "ABCD"[s.choice_texts.index(s.answer)] and Path(a.video).is_file()
    r = rationales[0]
    assert r.prompt.endswith(RATIONALE_SUFFIX) and r.target == next(c.rationale for c in cots if c.sample_id == r.sample_id)
    assert summary(records) == {"answer": len(answers), "rationale": len(rationales), "total": len(records)}


def test_filters_and_the_instruct_baseline(inputs) -> None:
    samples, cots = inputs
    verified = summary(build_records(samples, cots))["rationale"]
    answer_only = summary(build_records(samples, cots, cot_filter="answer"))["rationale"]
    unfiltered = summary(build_records(samples, cots, cot_filter="none"))["rationale"]
    assert verified <= answer_only < unfiltered == sum(c.rationale is not None for c in cots)
    assert summary(build_records(samples, cots, no_cot=True)) == {"answer": len(samples), "rationale": 0, "total": len(samples)}


def test_controls_matched_count_and_shuffled_rationales(inputs) -> None:
    samples, cots = inputs
    verified = [r for r in build_records(samples, cots) if r.kind == "rationale"]
    matched = [r for r in build_records(samples, cots, cot_filter="none", max_rationales=len(verified), seed=1)
               if r.kind == "rationale"]
    assert len(matched) == len(verified)  # Table 6 compares quality at equal quantity
    shuffled = [r for r in build_records(samples, cots, shuffle_rationales=True, seed=1) if r.kind == "rationale"]
    assert [r.sample_id for r in shuffled] == [r.sample_id for r in verified]
    assert sorted(r.target for r in shuffled) == sorted(r.target for r in verified)  # the same texts ...
    own = {r.sample_id: r.target for r in verified}
    assert all(r.target != own[r.sample_id] or list(own.values()).count(r.target) > 1 for r in shuffled)  # ... moved


def test_the_controls_do_not_depend_on_the_order_cots_were_written_in(inputs) -> None:
    """Parallel workers write traces, and so CoTs, in the order they finish."""
    samples, cots = inputs
    for kwargs in ({"cot_filter": "none", "max_rationales": 5}, {"shuffle_rationales": True}, {}):
        assert build_records(samples, cots[::-1], seed=1, **kwargs) == build_records(samples, cots, seed=1, **kwargs)


def test_missing_video_and_foreign_cots_fail_before_training(inputs) -> None:
    samples, cots = inputs
    broken = [s.model_copy(update={"video": s.video.model_copy(update={"path": Path("/nowhere/x.mp4")})}) for s in samples]
    with pytest.raises(DataError, match=r"video .* not found at /nowhere/x.mp4; pass --video-root"):
        build_records(broken, cots)
    with pytest.raises(DataError, match="has no labelled sample"):
        build_records(samples[:1], [c for c in cots if c.kept and c.sample_id != samples[0].sample_id])


def test_exports(inputs, tmp_path: Path) -> None:
    samples, cots = inputs
    records = build_records(samples, cots)
    export(records, tmp_path / "train.jsonl", "aotd")
    assert read_train_records(tmp_path / "train.jsonl") == records
    export(records, tmp_path / "llava.json", "llava")
    llava = json.loads((tmp_path / "llava.json").read_text())
    assert llava[0]["conversations"][0]["value"].startswith("<video>\n") and llava[0]["video"] == records[0].video
    assert llava[0]["conversations"][1] == {"from": "gpt", "value": records[0].target}
    export(records, tmp_path / "lf" / "aotd_train.json", "llamafactory")
    lf = json.loads((tmp_path / "lf" / "aotd_train.json").read_text())
    assert lf[-1]["messages"][1]["content"] == records[-1].target and lf[-1]["videos"] == [records[-1].video]
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    assert info["aotd_train"]["formatting"] == "sharegpt"
    datasets = pytest.importorskip("datasets")
    export(records, tmp_path / "hf", "hf")
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    assert len(loaded) == len(records) and loaded[0]["target"] == records[0].target
    with pytest.raises(AotdError, match="--format 'csv'"):
        export(records, tmp_path / "x", "csv")


def test_bad_training_files(tmp_path: Path) -> None:
    with pytest.raises(AotdError, match="training file not found"):
        read_train_records(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(AotdError, match="the training file is empty"):
        read_train_records(tmp_path / "empty.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"record_id": "x"}\n')
    with pytest.raises(AotdError, match=r"bad.jsonl:1: not a training record"):
        read_train_records(tmp_path / "bad.jsonl")
