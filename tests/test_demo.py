"""`aotd demo` end to end at its smallest size: every step, every variant and control, the
report and its machine-readable summary."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from aotd import demo
from aotd.demo import CONTROLS, VARIANTS, run_demo
from aotd.errors import AotdError


def test_the_plan_trains_the_compared_variants_per_seed_and_the_rest_once() -> None:
    runs = demo.plan(demo.SIZES["small"], seeds=2, seed=5)
    names = [r.name for r in runs]
    assert names[:4] == ["instruct-seed5", "instruct-seed6", "aotd-seed5", "aotd-seed6"]
    assert set(names[4:]) == {"unfiltered-seed5", "aotd-shuffled-seed5", "blind-instruct-seed5", "blind-aotd-seed5"}
    assert [r.name for r in runs if r.blind] == ["blind-instruct-seed5", "blind-aotd-seed5"]
    assert demo._cost_run(runs).name == "aotd-seed5"  # its rationales are scored alone: the cost row
    explained = [r.name for r in runs if demo._explains(r, runs)]
    assert explained == ["aotd-seed6", "unfiltered-seed5"]
    full = [r.name for r in demo.plan(demo.SIZES["full"], seeds=3, seed=0)]
    assert {"unfiltered-seed0", "unfiltered-seed1", "unfiltered-seed2"} <= set(full)


@pytest.mark.slow  # a 24-video world, ten one-epoch students: a few minutes
def test_the_tiny_demo_writes_a_summary_with_intervals_controls_and_sweeps(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # the full size's sweeps, at one point each: half the labels, and λ = 0
    monkeypatch.setitem(demo.SIZES, "tiny", dataclasses.replace(demo.SIZES["tiny"], data_fractions=(0.5,), lambdas=(0.0,)))
    report = run_demo(tmp_path, size="tiny", seeds=1, seed=1, workers=2, log=lambda _: None)  # students two at a time
    summary = json.loads((report / "summary.json").read_text())
    sweeps = {"instruct-data50", "aotd-data50", "aotd-lambda0"}
    assert set(summary["variants"]) == {*VARIANTS, *CONTROLS, *sweeps}
    assert {"aotd-data50 - instruct-data50", "aotd-lambda0 - instruct"} <= set(summary["comparisons"])
    half = [line for line in (tmp_path / "data" / "instruct-data50.jsonl").read_text().splitlines() if line]
    full = [line for line in (tmp_path / "data" / "instruct.jsonl").read_text().splitlines() if line]
    assert len(half) == round(len(full) / 2)
    assert json.loads((tmp_path / "students" / "aotd-lambda0-seed1" / "train.json").read_text())["steps"] > 0
    for variant in summary["variants"].values():
        assert set(variant["seeds"]["1"]) == {"overall", "Interaction", "Sequence", "Prediction", "Feasibility"}
    diff = summary["comparisons"]["aotd - instruct"]
    assert diff["ci95"][0] <= diff["difference"] <= diff["ci95"][1] and diff["questions"] > 0
    assert {"blind-aotd - aotd", "aotd-shuffled - aotd", "unfiltered - instruct"} <= set(summary["comparisons"])
    controls = summary["controls"]
    assert 0 <= controls["text_only"]["overall"] <= 1 and "step1_text_prior" in controls
    assert summary["timings_s"] and all(t >= 0 for t in summary["timings_s"].values())
    counts = {v: sum(1 for line in (tmp_path / "data" / f"{v}.jsonl").read_text().splitlines() if '"rationale"' in line)
              for v in ("aotd", "unfiltered")}
    assert counts["aotd"] == counts["unfiltered"]  # Table 6 at equal quantity
    text = (report / "README.md").read_text()
    assert "Controls: what text alone answers" in text and "Where the demo's time went" in text
    assert json.loads((tmp_path / "results" / "blind-aotd-seed1.json").read_text())["blind"] is True
    val = summary["validation"]["aotd-seed1"]  # training length chosen on val, for every student
    assert val["selected_epoch"] == 1 and 0 <= val["curve"][0]["score"] <= 1
    assert set(summary["validation"]) == {f"{v}-seed1" for v in (*VARIANTS, *CONTROLS, *sweeps)}
    assert "Training length, chosen on the val split" in text and "Sweeps: the share of labels and λ" in text


@pytest.mark.slow
def test_a_world_without_test_videos_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(demo.SIZES, "tiny", dataclasses.replace(demo.SIZES["tiny"], test_share=0.05))
    with pytest.raises(AotdError, match="no test videos"):  # at a 5% test share seed 0's 24 videos miss test
        run_demo(tmp_path, size="tiny", seeds=1, seed=0, workers=1, log=lambda _: None)
