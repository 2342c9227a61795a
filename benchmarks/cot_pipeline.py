"""Steps 2+3 at dataset scale: throughput with 1 and 2 workers, cache speed-up, resume after a kill.

    python benchmarks/cot_pipeline.py [--data WORLD] [--questions 120] [--config configs/embedded.yaml]

Without --data it generates a 30-video world in a temporary folder. Prints:
* samples/s through agent + cot (wall time, worker start-up and model loading included) for 1 and 2
  local workers, and that both write the same records;
* the agent run again over the same questions with a warm tool-output cache: speed-up and equality;
* `aotd agent` killed (SIGKILL) half-way and started again: the time until the restarted run
  writes its first new record, the time to finish, and that the result equals a clean run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aotd.agent.stage import AgentStage, run_agent
from aotd.config import load_config, save_config
from aotd.cot.stage import run_cot
from aotd.data.loaders import load_dataset
from aotd.embedded.world.generate import WorldConfig, generate_world

ROOT = Path(__file__).resolve().parents[1]


def _lines(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines()) if path.exists() else []


def _count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--questions", type=int, default=120)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "embedded.yaml")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = args.data
        if data is None:
            data = tmp / "world"
            generate_world(WorldConfig(out=data, videos=30, seed=99, workers=2), progress=False)
        cfg = load_config(args.config)
        samples = load_dataset("star", data).by_split("train")[: args.questions]
        n = len(samples)
        print(f"{n} train questions; tools {cfg.tools.model_dump()}; planner {cfg.planner.kind}\n")

        print(f"{'workers':>7} {'agent s':>8} {'cot s':>7} {'samples/s':>10} {'kept':>5}")
        outputs = {}
        for workers in (1, 2):
            run = tmp / f"w{workers}"
            t0 = time.perf_counter()
            run_agent(samples, AgentStage(cfg), run / "traces.jsonl", workers=workers, progress=False)
            t1 = time.perf_counter()
            _, table, _ = run_cot(run / "traces.jsonl", cfg, run / "cots.jsonl", workers=workers, progress=False)
            t2 = time.perf_counter()
            kept = next(r for r in table["rows"] if r["dataset"] == "all")["kept"]
            outputs[workers] = _lines(run / "cots.jsonl")
            print(f"{workers:>7} {t1 - t0:>8.1f} {t2 - t1:>7.2f} {n / (t2 - t0):>10.2f} {kept:>5}")
        print(f"1 and 2 workers write the same records: {outputs[1] == outputs[2]}\n")

        cache = tmp / "cache"
        times = []
        for name in ("cold", "warm"):
            t0 = time.perf_counter()
            report, _ = run_agent(samples, AgentStage(cfg, cache_dir=cache), tmp / f"{name}.jsonl", progress=False)
            times.append(time.perf_counter() - t0)
            print(f"agent, {name} tool cache: {times[-1]:.1f} s ({n / times[-1]:.2f} q/s), "
                  f"tools {1000 * report.timings.get('tools_s', 0):.0f} ms/q")
        same = _lines(tmp / "cold.jsonl") == _lines(tmp / "warm.jsonl") == _lines(tmp / "w1" / "traces.jsonl")
        print(f"cache speed-up on a second run: {times[0] / times[1]:.1f}x; identical records: {same}\n")

        config = tmp / "config.yaml"
        save_config(cfg, config)
        cmd = [sys.executable, "-c", "from aotd.cli import main; main()", "agent", "--data", str(data), "--limit",
               str(args.questions), "--config", str(config), "--no-cache"]
        out = tmp / "killed.jsonl"
        proc = subprocess.Popen([*cmd, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        while _count(out) < n // 2 and proc.poll() is None:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        before = _count(out)
        t0 = time.perf_counter()
        proc = subprocess.Popen([*cmd, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first = None
        while proc.poll() is None:
            if first is None and _count(out) > before:
                first = time.perf_counter() - t0
            time.sleep(0.005)
        total = time.perf_counter() - t0
        print(f"killed at {before}/{n} records; restart wrote its first new record after {first or total:.2f} s "
              f"(start-up, scan, model load) and finished in {total:.1f} s")
        print(f"resumed output equals a clean run: {_lines(out) == _lines(tmp / 'w1' / 'traces.jsonl')}")


if __name__ == "__main__":
    main()
