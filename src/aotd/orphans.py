"""No process outlives the run that started it.

A child blocked on a pipe whose other end it also holds (a pool worker waiting on its own call
queue) never sees end of file when its parent is killed, and uses no CPU, so no CPU limit fires
either. On Linux the kernel can send a signal when the parent dies (``PR_SET_PDEATHSIG``), but
only for a death after the request: a parent killed while the child was still starting (a spawned
worker spends seconds importing) has already gone, so the child checks that it still has the
parent it was started by, and exits if not.
"""

from __future__ import annotations

import os
import signal


def die_with_parent(parent: int | None = None) -> None:
    """Get SIGKILL when the parent dies; exit now if it has already died (``parent``: its pid)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere: end of file on the pipes, and the CPU limits, stop a child
    if parent is not None and os.getppid() != parent:
        os._exit(1)
