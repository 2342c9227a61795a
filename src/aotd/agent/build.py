"""Planner and toolset construction from a run config (one place, shared by CLI and demo)."""

from __future__ import annotations

from pathlib import Path

import aotd.embedded.candidates  # noqa: F401 - registers the embedded world's tools in the table
from aotd.config import Config, PlannerConfig, ToolChoice
from aotd.data.schema import QASample
from aotd.tools.api import ToolAPI
from aotd.tools.clip import Clip
from aotd.tools.registry import check_choice, detector, grounder, qa_model, recognizer


def build_planner(cfg: PlannerConfig, cache_dir: Path | None = None):  # -> Planner
    """The configured planner; an LLM's replies are cached under ``cache_dir`` when given."""
    if cfg.kind == "rules":
        from aotd.embedded.rule_planner import RulePlanner

        return RulePlanner()
    if cfg.kind == "one-hop":
        from aotd.agent.baselines import OneHopPlanner

        return OneHopPlanner()
    from aotd.agent.planner import LLMPlanner
    from aotd.llm.build import build_backend

    backend = build_backend(cfg, section="planner", cache_dir=cache_dir)
    return LLMPlanner(backend, temperature=cfg.temperature, max_tokens=cfg.max_tokens)


def build_toolset(choice: ToolChoice) -> ToolAPI:
    """The pixel-reading toolset a config names (oracles are step 1's business, not the agent's)."""
    check_choice(choice)
    return ToolAPI(
        detector(choice.detection, choice),
        grounder(choice.grounding, choice),
        recognizer(choice.recognition, choice),
        qa_model(choice.qa, detection=choice.detection, recognition=choice.recognition, choice=choice),
    )


class SharedToolset:
    """The agent's toolset is the same for every sample: built once, handed out per sample."""

    def __init__(self, api: ToolAPI) -> None:
        self.api = api

    def __call__(self, sample: QASample, clip: Clip) -> ToolAPI:
        return self.api

    def versions(self) -> str:
        """"detection=cnn@<weights hash>,...": which build of each model made a trace."""
        from aotd.tools.cache import model_version

        models = {"detection": self.api.detector, "grounding": self.api.grounder,
                  "recognition": self.api.recognizer, "qa": self.api.qa}
        return ",".join(f"{k}={getattr(m, 'name', '?')}@{model_version(m)}" for k, m in models.items())


def tool_factory(cfg: Config, cache: Path | None = None) -> SharedToolset:
    """The configured toolset. With ``cache`` (a sqlite file), model outputs are kept per
    (model, clip pixels, arguments), so a second run over the same videos skips the models."""
    api = build_toolset(cfg.tools)
    if cache is not None:
        from aotd.tools.cache import ToolCache, cached_models

        api = cached_models(api, ToolCache(cache))
    return SharedToolset(api)
