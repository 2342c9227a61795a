"""Agent throughput on the embedded world: questions planned, executed and judged per second.

    python benchmarks/agent_throughput.py [--data WORLD] [--questions 100] [--config configs/embedded.yaml]

Without --data it generates a 30-video world in a temporary folder. Runs the agent twice on
the same questions — programs in a killable worker process (the default) and in-process —
and prints questions/s, accuracy and the time split (loading frames, planning, executing).
The first run also pays for loading (or training, when not cached) the tool models.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from aotd.agent.build import build_planner, tool_factory
from aotd.agent.stage import AgentStage, run_agent
from aotd.config import SandboxConfig, load_config
from aotd.data.loaders import load_dataset
from aotd.world.generate import WorldConfig, generate_world


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
        ds = load_dataset("star", data)
        samples = ds.samples[: args.questions]
        t0 = time.perf_counter()
        factory = tool_factory(cfg)
        planner = build_planner(cfg.planner)
        print(f"tools {cfg.tools.model_dump()} loaded in {time.perf_counter() - t0:.1f} s")
        print(f"{'mode':<12} {'questions':>9} {'q/s':>6} {'acc':>6} {'load ms':>8} {'plan ms':>8} {'exec ms':>8}")
        for isolate in (True, False):
            out = Path(tmp) / f"traces_{isolate}.jsonl"
            run_cfg = cfg.model_copy(update={"sandbox": SandboxConfig(**{**cfg.sandbox.model_dump(), "isolate": isolate})})
            stage = AgentStage(run_cfg, planner=planner, tools=factory)
            t0 = time.perf_counter()
            report, summary = run_agent(samples, stage, out, progress=False)
            elapsed = time.perf_counter() - t0
            t = report.timings

            mode = "worker" if isolate else "in-process"
            print(f"{mode:<12} {report.written:>9} {report.written / elapsed:>6.2f} {summary['accuracy']:>6.3f} "
                  f"{1000 * t['load_s']:>8.1f} {1000 * t['plan_s']:>8.1f} {1000 * t['exec_s']:>8.1f}")


if __name__ == "__main__":
    main()
