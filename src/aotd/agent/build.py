"""Planner and toolset construction from a run config (one place, shared by CLI and demo)."""

from __future__ import annotations

from aotd.agent.run import ToolFactory
from aotd.config import Config, PlannerConfig
from aotd.data.schema import QASample
from aotd.errors import AotdError
from aotd.tools.api import ToolAPI
from aotd.tools.clip import Clip
from aotd.tools.registry import build_toolset


def build_planner(cfg: PlannerConfig):  # -> Planner
    if cfg.kind == "rules":
        from aotd.agent.rule_planner import RulePlanner

        return RulePlanner()
    if cfg.kind == "one-hop":
        from aotd.agent.baselines import OneHopPlanner

        return OneHopPlanner()
    from aotd.agent.planner import LLMPlanner

    if not cfg.model:
        raise AotdError("planner.model is required for planner.kind: llm")
    if cfg.backend == "openai":
        from aotd.llm.openai_compat import OpenAICompatibleBackend

        if not cfg.base_url:
            raise AotdError("planner.base_url is required for planner.backend: openai")
        backend = OpenAICompatibleBackend(cfg.base_url, cfg.model)
    elif cfg.backend == "transformers":
        from aotd.llm.hf import TransformersBackend

        backend = TransformersBackend(cfg.model)
    else:
        raise AotdError("planner.backend must be openai or transformers for planner.kind: llm")
    return LLMPlanner(backend)


def tool_factory(cfg: Config) -> ToolFactory:
    """The agent's toolset is the same for every sample: built once, handed out per sample."""
    api = build_toolset(cfg.tools)

    def make(sample: QASample, clip: Clip) -> ToolAPI:
        return api

    return make
