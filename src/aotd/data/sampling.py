"""The paper's frame convention: N (=32) frames sampled uniformly over a window.

Downstream of sampling everything speaks in frame ids 0..N-1; ``SampledFrames`` keeps the
map back to source frames so that annotations (in source frames or seconds) can be
compared with what tools and models say about ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aotd.data.schema import NUM_FRAMES


def sample_indices(num_frames: int, n: int = NUM_FRAMES, start: int = 0, end: int | None = None) -> list[int]:
    """Source frame indices of ``n`` frames spread uniformly over [start, end] (inclusive).

    ``linspace`` over [start, end] and rounded, as the paper and LLaVA-NeXT-Video do; a window
    shorter than ``n`` frames repeats frames rather than returning fewer.
    """
    if num_frames <= 0:
        raise ValueError("a video with no frames cannot be sampled")
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    last = num_frames - 1
    end = last if end is None else min(end, last)
    start = max(0, min(start, end))
    return [int(round(x)) for x in np.linspace(start, end, n)]


def window_to_frames(start_s: float | None, end_s: float | None, fps: float, num_frames: int) -> tuple[int, int]:
    """A window in seconds as an inclusive range of source frames, clipped to the video."""
    last = num_frames - 1
    lo = 0 if start_s is None else int(round(start_s * fps))
    hi = last if end_s is None else int(round(end_s * fps))
    lo = max(0, min(lo, last))
    hi = max(lo, min(hi, last))
    return lo, hi


@dataclass
class SampledFrames:
    """``frames[i]`` is frame id ``i``; ``source_indices[i]`` is where it came from."""

    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    source_indices: list[int]
    fps: float

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.source_indices):
            raise ValueError("one source index per sampled frame is required")

    def __len__(self) -> int:
        return len(self.source_indices)

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def source_frame(self, frame_id: int) -> int:
        return self.source_indices[frame_id]

    def time_of(self, frame_id: int) -> float:
        return self.source_indices[frame_id] / self.fps

    def nearest_id(self, source_frame: int) -> int:
        """The sampled id closest to a source frame (for mapping annotations onto ids)."""
        arr = np.asarray(self.source_indices)
        return int(np.abs(arr - source_frame).argmin())

    def ids_in_window(self, first_source: int, last_source: int) -> list[int]:
        """Sampled ids whose source frame lies in [first_source, last_source]."""
        return [i for i, s in enumerate(self.source_indices) if first_source <= s <= last_source]
