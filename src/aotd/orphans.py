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

PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15


def prctl(option: int, arg: int | bytes) -> None:
    """Linux's ``prctl(option, arg)``; nothing elsewhere."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def die_with_parent(parent: int | None = None) -> None:
    """Get SIGKILL when the parent dies (elsewhere: end of file on the pipes, and the CPU limits,
    stop a child); exit now if it has already died (``parent``: its pid)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def reap_session() -> None:
    """``python -c 'from aotd.orphans import reap_session; reap_session()' MARKER``, started with a
    pipe on stdin that only its run holds: tracks the processes whose command line holds
    ``MARKER`` (a local Ray cluster's session folder) and their descendants, and when the pipe
    closes (the run ended or was killed) kills those still alive.

    Ray's own agents notice a dead raylet but then linger for a minute or more; this is the
    backstop for a cluster the run started itself (never for one given by ``RAY_ADDRESS``)."""
    import select
    import sys
    from pathlib import Path

    marker = sys.argv[1]
    tracked: dict[int, str] = {}  # pid -> its start time, so a reused pid is left alone

    def scan() -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) in tracked or marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    tracked[int(entry.name)] = fields[19]
            except (OSError, IndexError, ValueError):
                continue

    while True:
        scan()
        ready, _, _ = select.select([sys.stdin], [], [], 0.5)
        if ready and not os.read(sys.stdin.fileno(), 1):
            break
    for pid, started in tracked.items():
        try:
            if (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[19] == started:
                os.kill(pid, signal.SIGKILL)
        except (OSError, IndexError):
            continue
