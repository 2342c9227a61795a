"""Peak memory of this process, as the cost figures report it."""

from __future__ import annotations

import resource
import sys


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB, plus the GPU's peak allocation when torch uses one.

    A process's peak only grows, so a cost comparison runs each system in its own process.
    """
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        rss += torch.cuda.max_memory_allocated() / 2**20
    return round(rss, 1)
