"""Step 2 as a runner stage: what ``aotd agent`` runs locally, over worker processes or on Ray."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aotd
from aotd.agent.run import Planner, ToolFactory, new_record, run_sample, summarize
from aotd.agent.sandbox import Limits
from aotd.config import AGENT_SECTIONS, Config
from aotd.data.records import TraceRecord, read_records
from aotd.data.schema import QASample
from aotd.data.video import FrameCache
from aotd.runner import RunReport, Shard, run_stage
from aotd.runner.memory import peak_memory_mb, reset_peak_memory
from aotd.tools.memo import one_thread


class AgentStage:
    """Plans and runs one question. Built from a config so it can travel to workers; tests and
    step 1 may hand in a ready planner and toolset instead (then it runs in this process only)."""

    name = "agent"

    def __init__(self, cfg: Config, *, cache_dir: Path | None = None, planner: Planner | None = None,
                 tools: ToolFactory | None = None) -> None:
        self.cfg, self.cache_dir = cfg, cache_dir
        self.fingerprint = cfg.digest(*AGENT_SECTIONS)
        self._planner, self._tools, self._frames = planner, tools, None
        self._tool_versions: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        if self._planner is not None or self._tools is not None:
            raise TypeError("an AgentStage given a ready planner or toolset runs in this process only (workers=1)")
        return {**self.__dict__, "_frames": None}

    def key(self, sample: QASample) -> str:
        return sample.sample_id

    def group(self, sample: QASample) -> str:
        """A video's questions go to one worker in a row: its frames are decoded once and each
        frame goes through the tools' CNNs once (``FrameCache(whole_videos=True)``, ``FrameMemo``)."""
        return str(sample.video.path or sample.video.video_id)

    def setup(self) -> None:
        from aotd.agent.build import build_planner, tool_factory

        reset_peak_memory()  # count what this stage loads, not what the parent process held
        if self._planner is None:
            self._planner = build_planner(self.cfg.planner, None if self.cache_dir is None else self.cache_dir / "llm")
        if self._tools is None:
            self._tools = tool_factory(self.cfg, None if self.cache_dir is None else self.cache_dir / "tools.sqlite")
        self._frames = FrameCache(max_bytes=256 * 2**20, whole_videos=True)
        versions = getattr(self._tools, "versions", None)
        self._tool_versions = versions() if callable(versions) else None

    @property
    def limits(self) -> Limits:
        return Limits(timeout_s=self.cfg.sandbox.timeout_s, memory_mb=self.cfg.sandbox.memory_mb)

    def process(self, sample: QASample) -> tuple[str, dict[str, float]]:
        assert self._planner is not None and self._tools is not None, "setup() first"
        timings: dict[str, float] = {}
        isolate = self.cfg.sandbox.isolate
        # the program's sandbox worker runs between tool calls: torch threads spin-waiting after a
        # tool's op would take its core (two threads made the sandbox's overhead ~1.7x as large)
        with one_thread() if isolate else contextlib.nullcontext():
            record = run_sample(sample, self._planner, self._tools, limits=self.limits, isolate=isolate,
                                cache=self._frames, timings=timings)
        timings["peak_mb"] = peak_memory_mb()  # this process's peak so far: the cost evaluation reads it
        return self._finish(record).model_dump_json(), timings

    def failed(self, sample: QASample, reason: str) -> str:
        name = self._planner.name if self._planner is not None else self.cfg.planner.kind
        record = new_record(sample, name)
        record.failure, record.error = "crash", reason
        return self._finish(record).model_dump_json()

    def _finish(self, record: TraceRecord) -> TraceRecord:
        planner = self.cfg.planner
        record.provenance = {"aotd": aotd.__version__, "config": self.fingerprint, "stage": self.name,
                             **({"tools": self._tool_versions} if self._tool_versions else {}),
                             **({"planner_model": planner.model} if planner.kind == "llm" and planner.model else {})}
        return record


def run_agent(samples: Iterable[QASample], stage: AgentStage, out: Path, *, shard: Shard | None = None,
              workers: int = 1, executor: str = "local", progress: bool = True,
              retry: tuple[str, ...] = ()) -> tuple[RunReport, dict[str, Any]]:
    """Run every sample ``out`` does not hold yet (and redo the ``retry`` failures); the run's report
    and the summary of the file."""
    report = run_stage(stage, samples, out, shard=shard, workers=workers, executor=executor, progress=progress,
                       retry=retry)
    return report, summarize(read_records(out, TraceRecord))
