"""Step 2's runner: programs run in the sandbox over the tool API; records, failures, resume."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from aotd.agent.run import run_sample, summarize
from aotd.agent.sandbox import Limits
from aotd.agent.stage import AgentStage, run_agent
from aotd.config import Config, SandboxConfig
from aotd.data.loaders import load_dataset
from aotd.data.records import TraceRecord, read_records
from aotd.data.star_classes import StarClasses
from aotd.tools.api import ToolAPI, best_choice, documentation
from aotd.tools.oracle import OracleTools

WHICH_OBJECT = '''
def execute_command(video, question, choices):
    for act in recognize_actions(video):
        if act.verb in question:
            return choose(choices, act.obj)
    return choices[0]
'''


@dataclass
class FixedPlan:
    program: str
    planner: str = "fixed"
    error: str | None = None


class FixedPlanner:
    name = "fixed"

    def __init__(self, program: str, error: str | None = None) -> None:
        self.program, self.error = program, error

    def plan(self, sample):
        return FixedPlan(self.program, error=self.error)


@pytest.fixture(scope="module")
def world(world_dir: Path):
    ds = load_dataset("star", world_dir, split="train")
    classes = StarClasses.load(world_dir / "annotations" / "classes")

    def oracle(sample, clip):
        o = OracleTools(sample, classes, clip.sampled.source_indices)
        return ToolAPI(o, o, o, o)

    return ds, oracle


def test_oracle_tools_answer_interaction_questions(world) -> None:
    ds, oracle = world
    samples = [s for s in ds.samples if s.template == "Interaction_T1" and any(
        v in s.question for v in ("taken", "put down", "opened", "closed", "thrown", "eaten"))][:6]
    assert samples
    for sample in samples:
        record = run_sample(sample, FixedPlanner(WHICH_OBJECT), oracle, isolate=False)
        assert record.failure is None, record.error
        assert record.correct, (sample.question, record.prediction, sample.answer)
        calls = record.sandbox["calls"]
        assert calls[0]["name"] == "recognize_actions" and calls[-1]["name"] == "choose"
        assert len(record.frames) == 32


def test_isolated_worker_gives_the_same_record(world) -> None:
    ds, oracle = world
    sample = next(s for s in ds.samples if s.template == "Interaction_T1")
    a = run_sample(sample, FixedPlanner(WHICH_OBJECT), oracle, isolate=False)
    b = run_sample(sample, FixedPlanner(WHICH_OBJECT), oracle, isolate=True, limits=Limits(timeout_s=20))
    assert (a.prediction, a.failure) == (b.prediction, b.failure)
    assert [c["name"] for c in a.sandbox["calls"]] == [c["name"] for c in b.sandbox["calls"]]


@pytest.mark.parametrize(("program", "error", "failure"), [
    ("", "no function in the reply", "plan:no_function_in_the_reply"),
    ("def execute_command(video, question, choices):\n    import os\n", None, "sandbox:forbidden"),
    ("def execute_command(video, question, choices):\n    return trim(video, 40, 50)\n", None, "sandbox:runtime"),
    ("def execute_command(video, question, choices):\n    return 'maybe'\n", None, "bad_return"),
    ("def execute_command(video, question, choices):\n    while True:\n        pass\n", None, "sandbox:op_limit"),
    ("def execute_command(video, question, choices):\n    return detect(video, 7)\n", None, "sandbox:runtime"),
])
def test_failures_are_classified(world, program, error, failure) -> None:
    ds, oracle = world
    record = run_sample(ds.samples[0], FixedPlanner(program, error), oracle, isolate=False)
    assert record.failure == failure, record.error
    assert record.correct is None


def test_an_open_ended_program_returning_nothing_is_a_bad_return(world) -> None:
    ds, oracle = world
    sample = ds.samples[0].model_copy(update={"choices": [], "open_ended": True})
    record = run_sample(sample, FixedPlanner("def execute_command(video, question, choices):\n    return None\n", None),
                        oracle, isolate=False)
    assert (record.failure, record.prediction, record.correct) == ("bad_return", None, None), record.error


def test_bad_tool_argument_names_the_line(world) -> None:
    ds, oracle = world
    program = "def execute_command(video, question, choices):\n    part = trim(video, 5, 99)\n    return choices[0]\n"
    record = run_sample(ds.samples[0], FixedPlanner(program), oracle, isolate=False)
    assert record.failure == "sandbox:runtime" and "0..31" in record.error and "line 2" in record.error


def test_batch_resumes_without_duplicates(world, tmp_path: Path) -> None:
    ds, oracle = world
    samples = ds.samples[:5]
    out = tmp_path / "traces.jsonl"
    def stage() -> AgentStage:
        return AgentStage(Config(sandbox=SandboxConfig(isolate=False)), planner=FixedPlanner(WHICH_OBJECT), tools=oracle)

    run_agent(samples[:3], stage(), out, progress=False)
    clean = out.read_text()
    with out.open("a") as f:
        f.write('{"sample_id": "torn')  # a kill mid-write
    report, summary = run_agent(samples, stage(), out, progress=False)
    ids = [json.loads(line)["sample_id"] for line in out.read_text().splitlines()]
    assert ids == [s.sample_id for s in samples] and out.read_text().startswith(clean)
    assert (report.already_done, report.written, report.truncated) == (3, 2, True)
    assert summary["samples"] == 5 and summarize(read_records(out, TraceRecord)) == summary
    record = read_records(out, TraceRecord)[0]
    assert record.provenance["config"] == Config(sandbox=SandboxConfig(isolate=False)).digest("tools", "planner", "sandbox")
    assert "duration_s" not in json.dumps(record.sandbox)  # records hold no timings: reruns write the same bytes
    assert len((tmp_path / "traces.timings.jsonl").read_text().splitlines()) == 5


def test_isolated_programs_call_tools_on_one_torch_thread(world, tmp_path: Path) -> None:
    """Torch threads spin-waiting after a tool's op would take the sandbox worker's core."""
    import torch

    ds, oracle = world
    seen: list[int] = []

    def tools(sample, clip):
        seen.append(torch.get_num_threads())
        return oracle(sample, clip)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for isolate in (True, False):
            stage = AgentStage(Config(sandbox=SandboxConfig(isolate=isolate)), planner=FixedPlanner(WHICH_OBJECT),
                               tools=tools)
            run_agent(ds.samples[:1], stage, tmp_path / f"traces_{isolate}.jsonl", progress=False)
            assert torch.get_num_threads() == 2  # the caller's setting is back
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2]


def test_a_stage_with_ready_made_parts_refuses_to_travel(world) -> None:
    import pickle

    _, oracle = world
    with pytest.raises(TypeError, match="runs in this process only"):
        pickle.dumps(AgentStage(Config(), planner=FixedPlanner(WHICH_OBJECT), tools=oracle))
    assert pickle.loads(pickle.dumps(AgentStage(Config()))).fingerprint == AgentStage(Config()).fingerprint


def test_documentation_lists_every_tool() -> None:
    doc = documentation()
    for name in ("trim", "detect", "find_object", "exists", "find_action", "recognize_actions", "query", "choose"):
        assert f"def {name}(" in doc
    assert "0..31" in doc


def test_best_choice_reads_actions_objects_and_text() -> None:
    choices = ["Took the book.", "Put down the book.", "Opened the door.", "Ate the food."]
    assert best_choice(choices, "put book") == "Put down the book."
    assert best_choice(["The cup/glass/bottle.", "The book."], "cup/glass/bottle") == "The cup/glass/bottle."
    assert best_choice(choices, "opened door") == "Opened the door."


def test_a_videos_questions_share_frames_and_tool_outputs_with_the_same_traces(world_dir: Path, tmp_path: Path) -> None:
    """Grouped by video, one decode per video and each frame through the CNNs once: the records
    are byte for byte those of every question run alone with fresh tools."""
    from collections import Counter

    from aotd.config import ToolChoice
    from aotd.embedded.candidates import forget_embedded

    cfg = Config(tools=ToolChoice(detection="cnn", grounding="clip-cnn", recognition="clip-cnn", qa="visual"),
                 sandbox=SandboxConfig(isolate=False))
    train = load_dataset("star", world_dir, split="train").samples
    videos = [v for v, _ in Counter(s.video.video_id for s in train).most_common(2)]
    samples = [s for s in train if s.video.video_id in videos][:12]  # the dataset's order: the videos interleave
    shared = tmp_path / "shared.jsonl"
    run_agent(samples, AgentStage(cfg), shared, progress=False)
    alone = []
    for i, s in enumerate(samples):
        forget_embedded()  # fresh models: nothing computed for another question
        out = tmp_path / f"alone{i}.jsonl"
        run_agent([s], AgentStage(cfg), out, progress=False)
        alone += out.read_text().splitlines()
    by_id = {json.loads(line)["sample_id"]: line for line in alone}
    records = shared.read_text().splitlines()
    assert len(records) == len(samples) and {json.loads(r)["sample_id"]: r for r in records} == by_id
