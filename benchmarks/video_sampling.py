"""Seek-based 32-frame sampling vs decoding every frame, on a long synthetic video.

Writes the video itself (default 3 minutes, 30 fps, 320x240), samples it both ways, checks
that both give identical frames (exit status 1 if not) and prints a small table:

    python benchmarks/video_sampling.py [--seconds 180] [--out video.mp4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from aotd.data.sampling import sample_indices
from aotd.data.video import decode_all, probe_video, read_frames, write_video


def synthetic_frames(n: int, width: int, height: int) -> Iterator[np.ndarray]:
    """A drifting colour gradient with a moving square: compresses like real footage, not noise."""
    x = np.arange(width, dtype=np.uint8)  # uint8 arithmetic wraps around: a cyclic gradient
    y = np.arange(height, dtype=np.uint8)[:, None]
    side = height // 4
    for i in range(n):
        frame = np.empty((height, width, 3), np.uint8)
        frame[..., 0] = x + np.uint8(2 * i % 256)
        frame[..., 1] = y + np.uint8(i % 256)
        frame[..., 2] = x + y + np.uint8(3 * i % 256)
        left = (5 * i) % (width - side)
        frame[side : 2 * side, left : left + side] = 255
        yield frame


def timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """Median wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(times), result


def run(path: Path, args: argparse.Namespace) -> int:
    n = round(args.seconds * args.fps)
    start = time.perf_counter()
    write_video(path, synthetic_frames(n, args.width, args.height), args.fps, gop=args.gop)
    write_s = time.perf_counter() - start
    info = probe_video(path)
    assert info.num_frames is not None
    indices = sample_indices(info.num_frames, args.frames)

    seek_s, by_seek = timed(lambda: read_frames(path, indices), args.repeats)
    full_s, by_full = timed(lambda: decode_all(path)[indices], args.full_repeats)
    same = np.array_equal(by_seek, by_full)

    rows = [
        ("video", f"{n / args.fps:.0f} s, {info.width}x{info.height} @ {info.fps:g} fps, gop {args.gop}"),
        ("frames", f"{info.num_frames} ({path.stat().st_size / 2**20:.1f} MiB)"),
        ("render + write_video", f"{write_s:.2f} s ({1000 * write_s / n:.2f} ms/frame)"),
        (f"seek + decode {args.frames} (read_frames)", f"{1000 * seek_s:.1f} ms"),
        (f"decode all, pick {args.frames} (decode_all)", f"{1000 * full_s:.1f} ms"),
        ("speed-up", f"{full_s / seek_s:.1f}x"),
        ("identical frames", "yes" if same else "NO"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="video length (default 180)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--gop", type=int, default=12, help="keyframe interval (default 12)")
    parser.add_argument("--frames", type=int, default=32, help="frames to sample (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of seek sampling (median)")
    parser.add_argument("--full-repeats", type=int, default=1, help="timed runs of full decoding (median)")
    parser.add_argument("--out", type=Path, help="write the video here and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.out is not None:
        return run(args.out, args)
    with tempfile.TemporaryDirectory() as tmp:
        return run(Path(tmp) / "long.mp4", args)


if __name__ == "__main__":
    sys.exit(main())
