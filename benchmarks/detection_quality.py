"""Box quality of the embedded detectors on a held-out world: the numbers step 1 chooses by.

    python benchmarks/detection_quality.py [--videos 30] [--seed 123] [--noise medium]

Generates a world in a temporary folder (its seed is not the CNN's training seed), scores
every split's key frames with ``evaluate_detector`` and prints mean IoU, recall@0.5, the
false-positive rate on absent classes and speed: ms per frame for one query on a fresh
32-frame clip (what an agent's ``detect`` call costs) and with all classes queried.
The CNN is loaded from the user cache, trained first (2-3 minutes) if missing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from aotd.data.keyframes import annotated_keyframes
from aotd.data.video import sample_video
from aotd.embedded.tools.cnn_detector import CNNDetector
from aotd.embedded.tools.color_detector import ColorDetector
from aotd.embedded.world.generate import WorldConfig, generate_world
from aotd.embedded.world.render import parse_noise
from aotd.embedded.world.vocab import DETECTABLE
from aotd.select.detection import evaluate_detector
from aotd.tools.base import Detector
from aotd.tools.clip import Clip


def one_query_ms(detector: Detector, world: Path, videos: int = 5) -> float:
    """ms per frame of one ``detect`` call on a freshly sampled 32-frame clip."""
    total, frames = 0.0, 0
    for k, path in enumerate(sorted((world / "videos").glob("*.mp4"))[:videos]):
        clip = Clip(sample_video(path), path.stem)
        t0 = time.perf_counter()
        detector.detect(clip, DETECTABLE[k % len(DETECTABLE)])
        total += time.perf_counter() - t0
        frames += len(clip)
    return 1000 * total / frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--noise", default="medium")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    cnn = CNNDetector.load()
    load_s = time.perf_counter() - t0
    detectors: list[Detector] = [ColorDetector(), cnn]
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        generate_world(WorldConfig(out=world, videos=args.videos, seed=args.seed, noise=parse_noise(args.noise),
                                   workers=args.workers), progress=False)
        results = [(evaluate_detector(d, annotated_keyframes(world), DETECTABLE), one_query_ms(d, world)) for d in detectors]
    first = results[0][0]
    print(f"world: {args.videos} videos, seed {args.seed}, noise {args.noise}; "
          f"{first['frames']} key frames, {first['pairs']} (frame, class) pairs; CNN load {load_s:.1f} s")
    print(f"{'detector':<9} {'mean IoU':>8} {'R@0.5':>6} {'FP rate':>7} {'ms/frame 1 query':>16} {'ms/frame all':>12}")
    for r, ms in results:
        print(f"{r['detector']:<9} {r['mean_iou']:>8.3f} {r['recall_at_0.5']:>6.3f} {r['fp_rate']:>7.3f} "
              f"{ms:>16.2f} {r['ms_per_frame']:>12.2f}")
    print("\nper-class IoU")
    print(f"{'class':<17}" + "".join(f"{r['detector']:>8}" for r, _ in results))
    for cls in DETECTABLE:
        print(f"{cls:<17}" + "".join(f"{r['per_class_iou'].get(cls, float('nan')):>8.3f}" for r, _ in results))


if __name__ == "__main__":
    main()
