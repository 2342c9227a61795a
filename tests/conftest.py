"""Shared fixtures: one small embedded world, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from aotd.world.generate import WorldConfig, generate_world

WORLD_VIDEOS = 40
WORLD_SEED = 11


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(out=out, videos=WORLD_VIDEOS, seed=WORLD_SEED, workers=2, open_ended=True), progress=False)
    return out
