"""The paper's frame convention: N (=32) frames sampled uniformly over a window.

Downstream of sampling everything speaks in frame ids 0..N-1; ``SampledFrames`` keeps the
map back to source frames so that annotations (in source frames or seconds) can be
compared with what tools and models say about ids.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field

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
    # the file version the frames were decoded from (path|mtime|size), if any: see ``frame_digests``
    source: str | None = field(default=None, repr=False, compare=False)
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)
    _frame_digests: list[bytes] | None = field(default=None, init=False, repr=False, compare=False)

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

    def digest(self) -> str:
        """A content hash of the pixels and where they came from, computed once per object.

        blake2b over the frames' shape, dtype and bytes, the source indices and the fps: two
        videos that share an id but not their pixels never share a digest, and a re-rendered
        video gets a new one. The frames must not be changed in place after the first call.
        Hashing 32 frames of 256x192 takes about 3 ms; a read-only array that owns its data
        (what ``FrameCache`` hands out to every sample of a video) is hashed only once.
        """
        if self._digest is None:
            h = hashlib.blake2b(digest_size=20)
            h.update(repr(([int(i) for i in self.source_indices], float(self.fps))).encode())
            h.update(_pixels_digest(self.frames))
            self._digest = h.hexdigest()
        return self._digest

    def frame_digests(self) -> list[bytes]:
        """One key per frame, computed once per object: tools key per-frame work by it, so
        questions that sample the same frame of a video share it. Frames decoded from a file
        (``source`` set: its path and version) are keyed by that and their source index, since
        decoding is deterministic: hashing a 192x256 frame's pixels took 0.25 ms, 8 ms a
        question; other frames by their content (shape and pixels)."""
        if self._frame_digests is None:
            if self.source is not None:
                self._frame_digests = [hashlib.blake2b(f"{self.source}#{i}".encode(), digest_size=20).digest()
                                       for i in self.source_indices]
            else:
                self._frame_digests = [_pixels_digest(np.ascontiguousarray(frame)) for frame in self.frames]
        return self._frame_digests

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


_PIXEL_DIGESTS: dict[int, tuple[weakref.ref[np.ndarray], bytes]] = {}


def _pixels_digest(frames: np.ndarray) -> bytes:
    """blake2b of an array's shape, dtype and bytes; remembered while a read-only array lives."""
    frozen = not frames.flags.writeable and frames.base is None  # nothing can change it in place
    if frozen:
        known = _PIXEL_DIGESTS.get(id(frames))
        if known is not None and known[0]() is frames:
            return known[1]
    contiguous = np.ascontiguousarray(frames)
    h = hashlib.blake2b(repr((contiguous.shape, contiguous.dtype.str)).encode(), digest_size=20)
    h.update(memoryview(contiguous).cast("B"))
    digest = h.digest()
    if frozen:
        key = id(frames)
        _PIXEL_DIGESTS[key] = (weakref.ref(frames, lambda _, key=key: _PIXEL_DIGESTS.pop(key, None)), digest)
    return digest
