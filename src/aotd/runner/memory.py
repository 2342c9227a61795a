"""Peak memory of this process, as the cost figures report it.

A child process starts with its parent's peak (Linux keeps the high-water mark across fork and
exec), so a stage resets the mark when it sets up (``/proc/self/clear_refs``) and then reads
``VmHWM``: the figure is what that stage's models and work needed, not what its parent held.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def reset_peak_memory() -> None:
    """Start counting the peak from now (Linux; elsewhere the process's lifetime peak is kept)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mb() -> float:
    """Peak resident memory in MiB since the last reset, plus the GPU's peak allocation when torch uses one."""
    rss = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    except OSError:
        pass
    if rss is None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        rss += torch.cuda.max_memory_allocated() / 2**20
    return round(rss, 1)
