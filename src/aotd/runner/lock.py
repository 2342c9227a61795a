"""One writer per output: a run holds an exclusive lock on ``<out>.lock`` while it writes.

Two runs on one ``--out`` would each append every record (the damage shows only at the next
resume), so the second one stops at once and names the holder's pid. The lock is a POSIX record
lock (``lockf``): the kernel drops it when its process dies, however it dies, so a lock left by
a killed run is simply taken; it belongs to the process, so a child forked or spawned by the run
neither holds nor keeps it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from aotd.errors import AotdError


class Locked(AotdError):
    """Another live process is writing the same output."""


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


@contextlib.contextmanager
def exclusive(out: Path, what: str | None = None) -> Iterator[None]:
    """Hold ``out``'s lock for the block; raise ``Locked`` naming the holder if another has it
    (``what``: how the message names the output, by default its path)."""
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise Locked(f"{what or out}: another run (pid {_holder(path)}) is writing it; wait for it to end, "
                         "or write to another --out") from None
        try:  # the holder before us may have removed the file after we opened it: lock the one on disk
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked, so a waiting run re-opens the path (see above)
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"
