"""`aotd demo` end to end at its smallest size: every step, every variant and control, the
report and its machine-readable summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aotd.demo import CONTROLS, VARIANTS, run_demo
from aotd.errors import AotdError

pytestmark = pytest.mark.slow  # a 24-video world, seven one-epoch students: a few minutes


def test_the_tiny_demo_writes_a_summary_with_intervals_and_controls(tmp_path: Path) -> None:
    report = run_demo(tmp_path, size="tiny", seeds=1, seed=1, workers=1, log=lambda _: None)
    summary = json.loads((report / "summary.json").read_text())
    assert set(summary["variants"]) == {*VARIANTS, *CONTROLS}
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
    assert set(summary["validation"]) == {f"{v}-seed1" for v in (*VARIANTS, *CONTROLS)}
    assert "Training length, chosen on the val split" in text


def test_a_world_without_test_videos_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from aotd import demo

    monkeypatch.setitem(demo.SIZES, "tiny", dataclasses.replace(demo.SIZES["tiny"], test_share=0.05))
    with pytest.raises(AotdError, match="no test videos"):  # at a 5% test share seed 0's 24 videos miss test
        run_demo(tmp_path, size="tiny", seeds=1, seed=0, workers=1, log=lambda _: None)
