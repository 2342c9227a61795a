"""The worker server: a small process that forks the sandbox's workers.

Forking the caller for every program was most of the agent's time (~140 ms a program): the
caller holds torch, the models and the caches, and a fork copies its page tables and then
faults in the pages the child touches. The server is started once per caller process with a
fresh interpreter that imports only the sandbox (and the modules of the input types), so
forking it costs a few milliseconds. A worker then runs program after program, each with a
fresh interpreter state and its own limits, until one fails, times out or dies (the caller
replaces it then) or it has run its share (``process``).

The caller and the server share one socket: the caller asks for a worker (sending the worker's
end of a pipe to the caller as a passed file descriptor); the server hands it to a worker it
forked ahead (``_Spare``: forked, and warmed up, before it was asked for) and answers with the
worker's pid; later the caller asks for the worker's exit status, which the server reaps, or,
for a worker that is exiting by itself (the caller closed its pipe), tells the server to reap
it without answering. Before the first fork the
server runs a small program and freezes its heap (``_warm_up``), so that workers start warm and
do not copy the pages of inherited objects; the modules of tool outputs are imported here once
(``import``) rather than in every worker. The server dies with its caller (end of file
on the socket; on Linux also ``PR_SET_PDEATHSIG``), and each worker dies with the server.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import socket
import struct
import sys
from typing import Any

from aotd.orphans import PR_SET_NAME, die_with_parent, prctl

_HEADER = struct.Struct("!Q")


def send(sock: socket.socket, message: Any, fds: tuple[int, ...] = ()) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    socket.send_fds(sock, [_HEADER.pack(len(data))], list(fds))
    sock.sendall(data)


def receive(sock: socket.socket) -> tuple[Any, list[int]] | None:
    """The next message and the descriptors that came with it; None at end of file."""
    head, fds, _, _ = socket.recv_fds(sock, _HEADER.size, 4)
    if not head:
        return None
    while len(head) < _HEADER.size:
        more = sock.recv(_HEADER.size - len(head))
        if not more:
            return None
        head += more
    (size,) = _HEADER.unpack(head)
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return pickle.loads(b"".join(chunks)), fds


def main() -> None:
    """``python -c 'from aotd.agent.sandbox.server import main; main()' FD CALLER_PID``: serve until
    end of file."""
    die_with_parent(int(sys.argv[2]))
    sock = socket.socket(fileno=int(sys.argv[1]))
    first = receive(sock)
    if first is None:
        return
    (_, path, preload), _ = first  # ("init", the caller's sys.path, modules to import once)
    sys.path[:] = path
    for name in preload:
        importlib.import_module(name)
    from .process import worker_loop  # after sys.path: the same code as the caller's

    _warm_up()
    spare = _Spare(sock, worker_loop)
    while (request := receive(sock)) is not None:
        message, fds = request
        if message[0] == "worker":
            try:
                pid = spare.start(message, fds)
            except OSError:  # the spare was killed while it waited (say, by the OOM killer): fork another
                spare.retire()
                spare = _Spare(sock, worker_loop)
                pid = spare.start(message, fds)
            for fd in fds:
                os.close(fd)
            send(sock, ("pid", pid))
            spare = _Spare(sock, worker_loop)  # forked while this worker runs, not when the next is asked for
        elif message[0] == "import":  # the modules of tool outputs: imported once, here, not per worker
            for name in message[1]:
                with contextlib.suppress(ImportError):
                    importlib.import_module(name)
            spare.retire()  # forked before the import: the next worker would import them again
            spare = _Spare(sock, worker_loop)
        elif message[0] == "forget":  # a worker exiting by itself: reaped with no reply, so the
            os.waitpid(message[1], 0)  # caller goes on while it exits
        elif message[0] == "wait":
            _, status = os.waitpid(message[1], 0)
            send(sock, ("status", os.waitstatus_to_exitcode(status)))


class _Spare:
    """The next worker, forked ahead: it warms itself up (the copy-on-write page faults a fresh
    fork pays on first use happen now) and waits to be handed the caller's pipe; the fork and the
    warm-up stay off the caller's critical path."""

    def __init__(self, caller: socket.socket, worker_loop: Any) -> None:
        here, there = socket.socketpair()
        server = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                die_with_parent(server)
                name(SPARE)
                caller.close()
                here.close()
                _run_warm_up_program()
                request = receive(there)
                if request is not None:
                    name(WORKER)
                    _, fds = request
                    there.close()
                    worker_loop(fds[0])
                code = 0
            finally:
                os._exit(code)
        there.close()
        self.sock = here

    def start(self, message: tuple[Any, ...], fds: list[int]) -> int:
        """Hand it the caller's pipe; its pid, which the caller will wait for."""
        send(self.sock, message, tuple(fds))
        self.sock.close()
        return self.pid

    def retire(self) -> None:
        self.sock.close()  # end of file: it exits without running anything
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


SPARE, WORKER = b"aotd-spare", b"aotd-worker"  # what `ps` shows (/proc/PID/comm)


def name(title: bytes) -> None:
    """Linux: the process's name in ``ps`` and /proc/PID/comm, so a waiting spare is told apart."""
    prctl(PR_SET_NAME, title)


def _warm_up() -> None:
    """Run a small program here once, so that what the interpreter builds on first use exists
    before any fork, and freeze the heap: a worker's garbage collector then leaves the
    inherited objects alone instead of writing to (and so copying) every page that holds one."""
    import gc

    _run_warm_up_program()
    gc.freeze()


def _run_warm_up_program() -> None:
    import time

    from .limits import Limits
    from .runner import run_source

    program = "def execute_command(x):\n    ys = [i * 2 for i in range(3) if i]\n    return {'n': len(ys), 's': str(x)}\n"
    with contextlib.suppress(Exception):
        run_source(program, tool_names=(), call_tool=None, inputs={"x": 1}, entry="execute_command",  # type: ignore[arg-type]
                   limits=Limits(), deadline=time.monotonic() + 5)
