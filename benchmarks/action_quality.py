"""Step-1 quality of the embedded recognition and grounding candidates on a held-out world.

    python benchmarks/action_quality.py [--videos 30] [--seed 321] [--noise medium]

Generates a world in a temporary folder (no video of it was seen in training: clip-cnn trains
on its own seed), scores every candidate on all its videos and prints top-1 recognition
accuracy, mean temporal IoU, recall@0.5 and milliseconds per clip. The first run trains
clip-cnn into the user cache (about two minutes).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from aotd.embedded.tools.clip_classifier import ClipClassifier
from aotd.embedded.tools.motion import MotionRecognizer
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.render import parse_noise
from aotd.select.actions import evaluate_grounding, evaluate_recognition


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--seed", type=int, default=321)
    ap.add_argument("--noise", default="medium")
    args = ap.parse_args()
    candidates = [MotionRecognizer(), ClipClassifier.load()]
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        generate_world(WorldConfig(out=world, videos=args.videos, seed=args.seed, noise=parse_noise(args.noise),
                                   workers=2), progress=False)
        print(f"world: {args.videos} videos, seed {args.seed}, noise {args.noise}; all videos held out\n")
        print(f"{'candidate':<10} {'top-1':>7} {'rec ms':>7} {'mean tIoU':>10} {'R@0.5':>7} {'gnd ms':>7} {'n':>5}")
        for c in candidates:
            rec = evaluate_recognition(c, world, split=None)
            gnd = evaluate_grounding(c, world, split=None)
            print(f"{c.name:<10} {rec.top1:>7.3f} {rec.ms_per_clip:>7.1f} {gnd.mean_iou:>10.3f} "
                  f"{gnd.recall_at_05:>7.3f} {gnd.ms_per_clip:>7.1f} {rec.n:>5}")
        print(f"\nchance top-1 is about {1 / 73:.3f} (73 world actions)")


if __name__ == "__main__":
    main()
