"""What the tool-output cache saves: the agent over the same questions, uncached, cold, warm.

    python benchmarks/tool_cache.py [--data WORLD] [--questions 120] [--videos 30] [--rounds 3]
                                    [--in-process] [--config configs/embedded.yaml]

Without --data it generates a world in a temporary folder. The toolset of the config (by
default cnn / clip-cnn / visual) is loaded once; then the same questions run three times with
the rule planner, ``--rounds`` times: without a cache, with an empty cache (cold: it fills the cache, and already
hits where questions of one video repeat a call) and with the filled cache (warm: a fresh
``ToolCache`` object on the same file, as a second run would open it). Each run gets its own
frame cache, so frame decoding costs the same in all three. Prints samples/s, time per
sample in the tools, CPU time of this process and hit rates per run (wall time is noisy
on a busy machine; CPU time much less so), then medians, the speed-up and the digest cost; exit status 1 if any
record differs between the runs (predictions, tool calls and their outputs are compared).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aotd.agent.build import build_toolset
from aotd.agent.run import load_clip, run_sample
from aotd.agent.sandbox import Limits
from aotd.config import load_config
from aotd.data.loaders import load_dataset
from aotd.data.records import TraceRecord
from aotd.data.sampling import SampledFrames
from aotd.data.schema import QASample
from aotd.data.video import FrameCache
from aotd.embedded.rule_planner import RulePlanner
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.tools.api import ToolAPI
from aotd.tools.cache import ToolCache, cached_models


def run(samples: list[QASample], api: ToolAPI, *, isolate: bool,
        limits: Limits) -> tuple[float, float, list[TraceRecord], list[dict[str, float]]]:
    """Wall seconds, this process's CPU seconds, the records and per-sample timings."""
    planner, frames = RulePlanner(), FrameCache(max_bytes=256 * 2**20)
    records, timings = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    for sample in samples:
        t: dict[str, float] = {}
        records.append(run_sample(sample, planner, lambda s, c: api, limits=limits, isolate=isolate, cache=frames,
                                  timings=t))
        timings.append(t)
    return time.perf_counter() - t0, time.process_time() - c0, records, timings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--questions", type=int, default=120)
    ap.add_argument("--videos", type=int, default=30, help="videos of the generated world (without --data)")
    ap.add_argument("--rounds", type=int, default=3, help="uncached/cold/warm rounds (medians are reported)")
    ap.add_argument("--in-process", action="store_true", help="run programs in this process, not a worker")
    ap.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "embedded.yaml")
    args = ap.parse_args()
    cfg = load_config(args.config)
    limits = Limits(timeout_s=cfg.sandbox.timeout_s, memory_mb=cfg.sandbox.memory_mb)
    isolate = cfg.sandbox.isolate and not args.in_process
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "world"
            generate_world(WorldConfig(out=data, videos=args.videos, seed=99, workers=2), progress=False)
        samples = load_dataset("star", data).samples[: args.questions]
        t0 = time.perf_counter()
        base = build_toolset(cfg.tools)
        print(f"tools {cfg.tools.model_dump()} loaded in {time.perf_counter() - t0:.1f} s; "
              f"{len(samples)} questions on {len({s.video.video_id for s in samples})} videos; "
              f"programs {'in a worker' if isolate else 'in-process'}")
        run(samples[:2], base, isolate=isolate, limits=limits)  # warm-up: imports, first forks, lazy state

        print(f"{'round':<5} {'run':<9} {'samples/s':>9} {'ms/sample':>9} {'tools ms':>9} {'cpu ms':>8} {'hits':>6} "
              f"{'misses':>6} {'hit rate':>8}")
        modes = ("uncached", "cold", "warm")
        seconds: dict[str, list[float]] = {name: [] for name in modes}
        cpu: dict[str, list[float]] = {name: [] for name in modes}
        records: dict[str, list[list[TraceRecord]]] = {name: [] for name in modes}
        for round_ in range(1, args.rounds + 1):
            path = Path(tmp) / f"tools-{round_}.sqlite"
            for name in modes:
                cache = None if name == "uncached" else ToolCache(path)  # warm: a new object, as a rerun opens it
                api = base if cache is None else cached_models(base, cache)
                elapsed, cpu_s, recs, timings = run(samples, api, isolate=isolate, limits=limits)
                seconds[name].append(elapsed)
                cpu[name].append(cpu_s)
                records[name].append(recs)
                tools_ms = 1000 * statistics.mean(t.get("tools_s", 0.0) for t in timings)
                stats = cache.stats() if cache else {"hits": "-", "misses": "-", "hit_rate": "-"}
                print(f"{round_:<5} {name:<9} {len(recs) / elapsed:>9.2f} {1000 * elapsed / len(recs):>9.1f} "
                      f"{tools_ms:>9.1f} {1000 * cpu_s / len(recs):>8.1f} {stats['hits']:>6} {stats['misses']:>6} {stats['hit_rate']:>8}", flush=True)
                if cache is not None:
                    cache.close()

        med = {name: statistics.median(v) for name, v in seconds.items()}
        med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
        files = list(Path(tmp).glob("tools-1.sqlite*"))
        print(f"median over {args.rounds} round(s), samples/s: " +
              ", ".join(f"{name} {len(samples) / v:.2f}" for name, v in med.items()))
        print(f"speed-up of the warm cache: {med['uncached'] / med['warm']:.2f}x vs uncached, "
              f"{med['cold'] / med['warm']:.2f}x vs cold; cold run vs uncached: "
              f"{100 * (med['cold'] / med['uncached'] - 1):+.1f}% (machine noise included); cache file "
              f"{sum(f.stat().st_size for f in files) / 2**20:.2f} MiB, {len(ToolCache(Path(tmp) / 'tools-1.sqlite'))} entries")

        print(f"CPU time of this process (models, cache; not the sandbox worker), medians: speed-up "
              f"{med_cpu['uncached'] / med_cpu['warm']:.2f}x vs uncached; cold vs uncached "
              f"{100 * (med_cpu['cold'] / med_cpu['uncached'] - 1):+.1f}%")

        sampled = load_clip(samples[0]).sampled
        costs = []
        for _ in range(20):
            fresh = SampledFrames(sampled.frames, sampled.source_indices, sampled.fps)  # no digest yet
            t0 = time.perf_counter()
            fresh.digest()
            costs.append(time.perf_counter() - t0)
        print(f"frame digest: {1000 * statistics.median(costs):.2f} ms per clip (median of 20; "
              f"{sampled.frames.nbytes / 2**20:.1f} MiB of pixels, hashed once per loaded clip)")

        reference = [r.model_dump_json() for r in records["uncached"][0]]
        differ = {name: sum(a != b.model_dump_json() for runs in rounds for a, b in zip(reference, runs, strict=True))
                  for name, rounds in records.items()}
        accuracy = sum(bool(r.correct) for r in records["warm"][0]) / max(1, len(samples))
        print(f"records differing from the uncached run: {differ} (accuracy {accuracy:.3f})")
        if any(differ.values()):
            sys.exit(1)


if __name__ == "__main__":
    main()
