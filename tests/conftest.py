"""Shared fixtures: one small embedded world, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from aotd.embedded.world.generate import WorldConfig, generate_world

WORLD_VIDEOS = 40
WORLD_SEED = 11


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(out=out, videos=WORLD_VIDEOS, seed=WORLD_SEED, workers=2, open_ended=True), progress=False)
    return out


def cheap_config():
    """The run config tests use: pixel-reading tools that need no training, in-process sandbox."""
    from aotd.config import Config, SandboxConfig, ToolChoice

    return Config(tools=ToolChoice(detection="color", grounding="motion", recognition="motion", qa="presence"),
                  sandbox=SandboxConfig(isolate=False))


@pytest.fixture(scope="session")
def world_traces(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Step-2 traces of 48 train questions of the session world (cheap tools, rule planner)."""
    from aotd.agent.stage import AgentStage, run_agent
    from aotd.data.loaders import load_dataset

    out = tmp_path_factory.mktemp("traces") / "traces.jsonl"
    samples = load_dataset("star", world_dir).by_split("train")[:48]
    run_agent(samples, AgentStage(cheap_config()), out, progress=False)
    return out


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine: one torch thread is far faster than two (no synchronisation)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
