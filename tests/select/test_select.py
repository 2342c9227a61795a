"""Step 1 on a small world: every sub-task scored, Table 1 written, the chosen config usable."""

from __future__ import annotations

from pathlib import Path

import pytest

from aotd.config import Config, PlannerConfig, load_config
from aotd.errors import AotdError
from aotd.runner import RunOptions
from aotd.select import markdown, run_selection, write_outputs
from aotd.tools import registry


@pytest.fixture
def light_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-built candidates only, so the test does not train the CNNs (benchmarks do)."""
    monkeypatch.setattr(registry, "CANDIDATES", {k: c for k, c in registry.CANDIDATES.items()
                                                 if c.name not in ("cnn", "clip-cnn")})


def test_selection_scores_every_subtask_and_writes_a_config(world_dir: Path, tmp_path: Path, light_candidates) -> None:
    planners = {"one-hop": PlannerConfig(kind="one-hop"), "rules": PlannerConfig(kind="rules")}
    rows, chosen = run_selection(world_dir, Config(), split="train", limit=12, planners=planners,
                                 answers=tmp_path / "answers.jsonl", run=RunOptions(progress=False))
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


def test_sharded_question_scores_merge_into_the_unsharded_table(world_dir: Path, tmp_path: Path,
                                                                  light_candidates) -> None:
    """Step 1 takes the runner's options: two shards' answers, one run from a copy of the dataset
    elsewhere, merged, give the table of one run, and a run over a complete answers file scores no
    question again. Two worker processes give the same table."""
    import shutil

    from aotd.data.records import AnswerScore, read_records
    from aotd.runner import Shard, merge_files

    planners = {"rules": PlannerConfig(kind="rules")}
    whole, _ = run_selection(world_dir, Config(), limit=8, planners=planners, answers=tmp_path / "whole.jsonl",
                             run=RunOptions(progress=False))
    elsewhere = shutil.copytree(world_dir, tmp_path / "copy")
    parts = []
    for index, data in enumerate((world_dir, elsewhere)):
        part = tmp_path / f"part{index}.jsonl"
        rows, chosen = run_selection(data, Config(), limit=8, planners=planners, answers=part,
                                     run=RunOptions(shard=Shard(index, 2), progress=False))
        assert rows == [] and chosen == Config()  # a shard makes no table
        parts.append(part)
    merged = tmp_path / "merged.jsonl"
    merge_files(parts, merged, [])
    assert sorted(r.sample_id for r in read_records(merged, AnswerScore)) == \
        sorted(r.sample_id for r in read_records(tmp_path / "whole.jsonl", AnswerScore))
    before = merged.read_bytes()
    again, _ = run_selection(world_dir, Config(), limit=8, planners=planners, answers=merged,
                             run=RunOptions(progress=False))
    assert merged.read_bytes() == before  # every question was scored already
    assert [(r.subtask, r.model, r.value) for r in again] == [(r.subtask, r.model, r.value) for r in whole]
    two, _ = run_selection(world_dir, Config(), limit=8, planners=planners, answers=tmp_path / "two.jsonl",
                           run=RunOptions(workers=2, progress=False))
    assert [(r.subtask, r.model, r.value) for r in two] == [(r.subtask, r.model, r.value) for r in whole]
    with pytest.raises(AotdError, match="a shard's scores must be kept to be merged"):
        run_selection(world_dir, Config(), limit=8, planners=planners, run=RunOptions(shard=Shard(0, 2)))


def test_a_question_that_cannot_be_scored_is_recorded_and_the_rest_go_on(world_dir: Path, tmp_path: Path) -> None:
    from aotd.data.loaders import load_dataset
    from aotd.data.records import AnswerScore, read_records
    from aotd.data.star_classes import StarClasses
    from aotd.runner import run_stage
    from aotd.select.prior import PriorQA
    from aotd.select.stage import AnswerStage

    samples = load_dataset("star", world_dir, split="train").samples[:3]
    broken = samples[1].model_copy(update={"video": samples[1].video.model_copy(update={"path": tmp_path / "gone.mp4"})})
    classes = StarClasses.load(world_dir / "annotations" / "classes")
    stage = AnswerStage({"rules": PlannerConfig(kind="rules")}, (), Config().tools, classes,
                        prior=PriorQA.fit(samples, classes))
    report = run_stage(stage, [samples[0], broken, samples[2]], tmp_path / "answers.jsonl", progress=False)
    records = {r.sample_id: r for r in read_records(tmp_path / "answers.jsonl", AnswerScore)}
    assert report.written == 3 and report.crashed == 1
    assert records[broken.sample_id].failure == "crash" and "gone.mp4" in (records[broken.sample_id].error or "")
    assert set(records[samples[0].sample_id].correct) == set(stage.scored) == {"rules", "prior (text only)"}
