"""Agent throughput on the embedded world: questions per second, where a question's time goes,
and what STAR's train split would take.

    python benchmarks/agent_throughput.py [--data WORLD] [--questions 100] [--config configs/embedded.yaml]

Without --data it generates a 30-video world in a temporary folder. Runs the agent on the same
questions three ways, with no tool-output cache: every program in a sandbox worker (the default),
in-process (no isolation: the floor isolation is measured against), and in workers with
``--workers 2``. For each it prints questions/s and the split of a question's time: loading its
frames, planning, executing (tools + sandbox; in-process, executing is the tools alone); then
a question's time split into decode, plan, tools and sandbox overhead, and the projected wall
time of STAR's 45.7K train questions on this machine, per worker process. Questions are taken
in the dataset's order and grouped by video as ``aotd agent`` groups them (one decode per
video, each frame through the tools' CNNs once).
The first run also pays for loading the tool models.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from aotd.agent.build import build_planner, tool_factory
from aotd.agent.stage import AgentStage, run_agent
from aotd.config import SandboxConfig, load_config
from aotd.data.loaders import load_dataset
from aotd.runner import timings_path
from aotd.tools.registry import forget_embedded
from aotd.world.generate import WorldConfig, generate_world

STAR_TRAIN = 45_731  # questions in STAR's train split


def _split(out: Path) -> dict[str, float]:
    """Mean seconds per question: load, plan, exec (tools + sandbox; trace records keep no call
    durations, so that reruns write the same bytes: the in-process row's exec is the tools' floor)."""
    timings = [json.loads(line) for line in timings_path(out).read_text().splitlines() if line.strip()]
    n = max(1, len(timings))
    return {k: sum(t.get(f"{k}_s", 0.0) for t in timings) / n for k in ("load", "plan", "exec")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "embedded.yaml")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "world"
            generate_world(WorldConfig(out=data, videos=30, seed=99, workers=2), progress=False)
        cfg = load_config(args.config)
        samples = load_dataset("star", data).samples[: args.questions]
        t0 = time.perf_counter()
        tool_factory(cfg)  # the first load reads the weights from disk; the modes below load them again
        planner = build_planner(cfg.planner)
        print(f"tools {cfg.tools.model_dump()} loaded in {time.perf_counter() - t0:.1f} s; {len(samples)} questions, "
              f"{os.cpu_count()} cores")
        print(f"{'mode':<22} {'q/s':>6} {'acc':>6} {'load ms':>8} {'plan ms':>8} {'exec ms':>8} "
              f"{'STAR train':>11}")
        rates, splits = {}, {}
        for mode, isolate, workers in (("worker per program", True, 1), ("in-process", False, 1),
                                       ("workers, --workers 2", True, 2)):
            out = Path(tmp) / f"traces_{len(rates)}.jsonl"
            run_cfg = cfg.model_copy(update={"sandbox": SandboxConfig(**{**cfg.sandbox.model_dump(), "isolate": isolate})})
            # fresh tools for every mode: what one mode's per-frame memos hold must not speed up the next
            forget_embedded()
            stage = AgentStage(run_cfg, planner=planner, tools=tool_factory(cfg)) if workers == 1 \
                else AgentStage(run_cfg)
            t0 = time.perf_counter()
            report, summary = run_agent(samples, stage, out, workers=workers, progress=False)
            rate = rates[mode] = report.written / (time.perf_counter() - t0)
            split = splits[mode] = _split(out)
            hours = STAR_TRAIN / rate / 3600
            print(f"{mode:<22} {rate:>6.2f} {summary['accuracy']:>6.3f} {1000 * split['load']:>8.1f} "
                  f"{1000 * split['plan']:>8.1f} {1000 * split['exec']:>8.1f} "
                  f"{hours:>9.2f} h")
        ratio = rates["worker per program"] / rates["in-process"]
        print(f"\nisolation keeps {ratio:.2f}x of in-process throughput")
        worker, here = splits["worker per program"], splits["in-process"]
        parts = {"decode": worker["load"], "plan": worker["plan"], "tools": here["exec"],
                 "sandbox overhead": max(0.0, worker["exec"] - here["exec"])}
        total = sum(parts.values()) or 1.0
        print("a question's time with isolation: " + ", ".join(
            f"{k} {1000 * v:.1f} ms ({100 * v / total:.0f}%)" for k, v in parts.items())
            + " (tools: the in-process exec; judging the answer is part of it and takes microseconds)")
        per_worker = rates["workers, --workers 2"] / 2
        print(f"STAR's {STAR_TRAIN:,} train questions: " + ", ".join(
            f"{k} worker{'s' if k > 1 else ''} {STAR_TRAIN / (per_worker * k) / 60:.0f} min" for k in (1, 2, 4, 8, 16))
            + " (linear in workers up to the cores; more machines: `--executor ray`, the same per worker)")


if __name__ == "__main__":
    main()
