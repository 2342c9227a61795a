"""Per-frame results shared across the questions of a video.

A video has a dozen questions and each samples 32 frames from its window; on the demo world
their 42K sampled frames are 13.7K distinct ones. The embedded CNNs compute each frame's
output independently of the rest of its batch (bit for bit, on one thread), so a result
keyed by the frame's content (``SampledFrames.frame_digests``) can be reused by every
question that samples that frame, with the same traces as computing it again. The
transformers tools keep theirs the same way (a CLIP image embedding per frame, an open-vocabulary
detector's box per frame and query): on a GPU a frame's output may differ from a recomputation
in the last bits, as batching changes the kernels' reduction order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import torch

V = TypeVar("V")


class FrameMemo(Generic[V]):
    """An LRU of per-frame results, filled a batch of missing frames at a time."""

    def __init__(self, limit: int = 16384) -> None:
        self.limit = limit
        self.hits = self.misses = 0
        self._entries: OrderedDict[Hashable, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, keys: Sequence[Hashable], compute: Callable[[list[int]], Sequence[V]]) -> list[V]:
        """The result of every key; ``compute(positions)`` makes those not held, in one call."""
        found: dict[int, V] = {}
        missing: list[int] = []
        first: dict[Hashable, int] = {}
        for i, key in enumerate(keys):
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                found[i] = value
            elif key in first:  # the same frame twice in one call (a short window repeats frames)
                continue
            else:
                first[key] = i
                missing.append(i)
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            for i, value in zip(missing, compute(missing)):
                found[i] = self._entries[keys[i]] = value
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)
        return [found[i] if i in found else found[first[keys[i]]] for i in range(len(keys))]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread: convs this small gain little from more, on a machine shared
    with other work OpenMP's spin-waiting makes two threads over ten times slower than one,
    and a frame's output then does not depend on the batch it is computed in."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
