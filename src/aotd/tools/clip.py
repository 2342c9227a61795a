"""``Clip``: the video a tool program sees — the 32 sampled frames, possibly trimmed.

Ids always refer to the original 32 (a clip trimmed to 10..20 still calls its frames 10..20),
so windows and boxes found in sub-clips line up with each other and with the annotations.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from aotd.data.sampling import SampledFrames
from aotd.errors import AotdError


class ToolInputError(AotdError):
    """A tool was given an argument it cannot use (an empty clip, a window outside 0..31)."""


class Clip:
    __sandbox_attributes__ = ("ids", "video_id", "first", "last")

    def __init__(self, sampled: SampledFrames, video_id: str, ids: tuple[int, ...] | None = None) -> None:
        self.sampled = sampled
        self.video_id = video_id
        self.ids: tuple[int, ...] = tuple(range(len(sampled))) if ids is None else ids
        if not self.ids:
            raise ToolInputError("the clip has no frames")

    @property
    def first(self) -> int:
        return self.ids[0]

    @property
    def last(self) -> int:
        return self.ids[-1]

    @property
    def num_sampled(self) -> int:
        return len(self.sampled)

    def __len__(self) -> int:
        return len(self.ids)

    def frames(self) -> np.ndarray:
        """(len(ids), H, W, 3) uint8 RGB, in id order."""
        return self.sampled.frames[list(self.ids)]

    def items(self) -> Iterator[tuple[int, np.ndarray]]:
        for i in self.ids:
            yield i, self.sampled.frames[i]

    def trim(self, start: int | None = None, end: int | None = None) -> Clip:
        """The frames with ids in [start, end] (inclusive), both within 0..N-1."""
        n = self.num_sampled
        lo = self.first if start is None else start
        hi = self.last if end is None else end
        for name, value in (("start", lo), ("end", hi)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n:
                raise ToolInputError(f"trim {name}={value!r} is not a frame id in 0..{n - 1}")
        if hi < lo:
            raise ToolInputError(f"trim end {hi} is before start {lo}")
        ids = tuple(i for i in self.ids if lo <= i <= hi)
        if not ids:
            raise ToolInputError(f"no frames of this clip lie in {lo}..{hi} (the clip has {self.first}..{self.last})")
        return Clip(self.sampled, self.video_id, ids)

    def __sandbox_view__(self) -> Clip:
        """What a sandbox worker gets: the same ids and names without the pixels (tools, which
        read them, run in the caller and receive the original)."""
        empty = np.empty((self.num_sampled, 0, 0, 3), np.uint8)
        return Clip(SampledFrames(frames=empty, source_indices=self.sampled.source_indices, fps=self.sampled.fps),
                    self.video_id, self.ids)

    def to_json(self) -> dict[str, object]:
        return {"video_id": self.video_id, "frames": [self.first, self.last], "count": len(self.ids)}

    def __repr__(self) -> str:
        return f"Clip({self.video_id}, frames {self.first}..{self.last})"
