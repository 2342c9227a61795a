"""Step 1 on a small world: every sub-task scored, Table 1 written, the chosen config usable."""

from __future__ import annotations

from pathlib import Path

import pytest

from aotd.config import Config, load_config
from aotd.select import markdown, run_selection, write_outputs
from aotd.tools import registry


@pytest.fixture
def light_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-built candidates only, so the test does not train the CNNs (benchmarks do)."""
    monkeypatch.setattr(registry, "CANDIDATES", {k: c for k, c in registry.CANDIDATES.items()
                                                 if c.name not in ("cnn", "clip-cnn")})


def test_selection_scores_every_subtask_and_writes_a_config(world_dir: Path, tmp_path: Path, light_candidates) -> None:
    from aotd.agent.baselines import OneHopPlanner
    from aotd.agent.rule_planner import RulePlanner

    planners = {"one-hop": OneHopPlanner(), "rules": RulePlanner()}
    rows, chosen = run_selection(world_dir, Config(), split="train", limit=12, planners=planners, progress=False)
    subtasks = {r.subtask for r in rows}
    assert subtasks == {"decomposition", "detection", "grounding", "recognition", "qa"}
    assert all(0.0 <= r.value <= 1.0 for r in rows)
    assert {r.model for r in rows if r.subtask == "qa"} == {"presence", "visual", "prior (text only)"}
    assert chosen.tools.qa in ("presence", "visual")  # the text prior is shown, never chosen
    decomposition = {r.model: r.value for r in rows if r.subtask == "decomposition"}
    assert decomposition["rules"] > 0.5  # rule programs on oracle tools mostly answer right
    assert chosen.planner.kind == max(decomposition, key=decomposition.get)
    write_outputs(rows, chosen, tmp_path)
    table = (tmp_path / "table1.md").read_text()
    assert "| detection |" in table and "IoU" in table
    again = load_config(tmp_path / "config.yaml")
    assert again.tools.detection == "color" and again.tools.recognition == "motion"
    assert markdown(rows).count("**") >= 2 * len(subtasks)
