"""How fast the embedded world renders: videos per second on this machine.

    python benchmarks/world_generation.py [--videos 1000] [--workers 2] [--noise medium]

Writes a world to a temporary folder (or --out), prints videos/s, frames/s and the size on
disk. The target is a 1,000-video world in a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.render import parse_noise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--noise", default="medium")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "world"
        t0 = time.perf_counter()
        manifest = generate_world(WorldConfig(out=out, videos=args.videos, seed=args.seed, noise=parse_noise(args.noise),
                                              workers=args.workers), force=True)
        elapsed = time.perf_counter() - t0
        frames = sum(v["num_frames"] for v in json.loads((out / "annotations" / "videos.json").read_text()).values())
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    questions = sum(manifest["questions"].values())
    print(f"videos            {args.videos}")
    print(f"workers           {args.workers}")
    print(f"questions         {questions}")
    print(f"frames            {frames}")
    print(f"wall time         {elapsed:.1f} s")
    print(f"videos / s        {args.videos / elapsed:.2f}")
    print(f"frames / s        {frames / elapsed:.0f}")
    print(f"size on disk      {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
