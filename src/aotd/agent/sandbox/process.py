"""The two ways to run a program: in this process, or in a worker process that can be killed.

``run_program`` runs each program in a worker process that runs only the interpreter, under an
address-space cap (``RLIMIT_AS``: what the worker has mapped plus ``memory_mb``) and a CPU-time
backstop, both set anew for each program; the parent kills it at the deadline. Workers are
forked by a small server process (``server``), started once per caller, that holds only the
interpreter and the input types' modules: forking the caller itself, with torch and the models,
cost ~140 ms a program. A worker is reused: each program gets a fresh interpreter (its own
names, counters and limits; the interpreter offers no way to change anything that outlives it),
and a worker whose program failed in any way, timed out or died, or that has run
``_PROGRAMS_PER_WORKER`` programs, is replaced (a fresh process a program cost ~3 ms more). A
worker does not hold the caller's end of its pipe, so it sees end of file when the caller dies. The tools stay in the parent, with the models, the GPU and the caches (CUDA does
not survive a fork, and a model's address space would count against the cap): each tool call
travels to the parent over a pipe, runs there, and its output travels back. So the parent records
the trace, which survives a worker that is killed, and tool outputs must be picklable.

Inputs and tool outputs that are not plain Python data (a video, a detection) go back to the
parent as references, so a video is not pickled again on every call. An input whose type offers
``__sandbox_view__()`` is sent to the worker as that light copy (a clip without its pixels: only
the tools read pixels, and they run in the parent on the original). The program cannot mutate
such objects: it can neither set attributes nor assign items on anything but lists and dicts.

The worker is a resource boundary, not a privilege boundary: it runs as the same user, and what
keeps the program away from the OS is the interpreter. ``fork`` makes this POSIX-only, and the
address-space cap needs Linux's /proc.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import math
import multiprocessing
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from . import server
from .errors import SizeLimit
from .limits import Limits
from .runner import Outcome, check_tool_names, run_source
from .trace import SandboxErrorInfo, SandboxResult, ToolCall, ToolRecorder

_GRACE_S = 1.0  # past the deadline, the worker's own timeout report still wins over a kill
_MAX_MESSAGE = 256 * 2**20
_PROGRAMS_PER_WORKER = 1000  # then a fresh process: what a long-lived one accretes stays bounded
_DEFAULT = Limits()


@dataclass(frozen=True)
class _Ref:
    """Stands in a tool call for an object the parent handed to the worker."""

    source: str  # "input" or "output"
    key: str | int


def run_in_process(source: str, *, tools: Mapping[str, Callable[..., Any]], inputs: Mapping[str, Any],
                   entry: str = "execute_command", limits: Limits = _DEFAULT) -> SandboxResult:
    """Run ``entry(**inputs)`` of ``source`` here: every limit but memory and a hung tool applies.

    For tests, and for hosts that already isolate the caller. List, dict and set inputs are
    copied so that the program cannot change the caller's data.
    """
    check_tool_names(tools)
    start = time.perf_counter()
    recorder = ToolRecorder(tools)
    inputs = {k: copy.deepcopy(v) if type(v) in (list, dict, set) else v for k, v in inputs.items()}
    outcome = run_source(source, tool_names=tools, call_tool=recorder, inputs=inputs, entry=entry,
                         limits=limits, deadline=time.monotonic() + limits.timeout_s)
    return _result(outcome, recorder.calls, start)


def run_program(source: str, *, tools: Mapping[str, Callable[..., Any]], inputs: Mapping[str, Any],
                entry: str = "execute_command", limits: Limits = _DEFAULT) -> SandboxResult:
    """Run ``entry(**inputs)`` of ``source`` in a worker process with memory and time limits."""
    check_tool_names(tools)
    start = time.perf_counter()
    deadline = time.monotonic() + limits.timeout_s
    recorder = ToolRecorder(tools)
    views = {k: v.__sandbox_view__() if hasattr(type(v), "__sandbox_view__") else v for k, v in inputs.items()}
    program = pickle.dumps((source, tuple(tools), views, entry, limits, deadline), protocol=pickle.HIGHEST_PROTOCOL)
    kill_at = deadline + _GRACE_S
    with _server(views) as workers:
        worker = workers.take(program)
        # Kills the worker on time even while this thread is blocked: in a slow tool, or reading a pipe.
        watch = _watchdog().arm(kill_at, worker)
        modules: set[str] = set()  # of the tools' outputs
        reported = clean = False
        try:
            outcome, reported = _serve(worker, worker.conn, recorder, inputs, limits, kill_at, modules)
            clean = outcome.error is None
        finally:
            _watchdog().disarm(watch)  # after this it cannot signal a pid that the server may reap
            workers.release(worker, reported=reported, reuse=clean)
        workers.preload(modules)
    return _result(outcome, recorder.calls, start)


def _modules(value: Any, depth: int = 2) -> set[str]:
    """The modules defining the types in a tool's output (a list of boxes: the boxes' module)."""
    found = {type(value).__module__}
    if depth and isinstance(value, (list, tuple, set, dict)):
        items = list(value.values() if isinstance(value, dict) else value)[:8]
        for item in items:
            found |= _modules(item, depth - 1)
    return found - {"builtins"}


class _Worker:
    """A worker the server forked and the caller's end of its pipe: the caller signals it by pid
    (it cannot be reused before the server reaps it, which happens only when ``reap`` asks) and
    learns its exit status from the server."""

    def __init__(self, workers: _Server, pid: int, conn: Connection) -> None:
        self.workers, self.pid, self.conn, self.exitcode = workers, pid, conn, None
        self.programs = 0

    def kill(self) -> None:
        if self.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def reap(self) -> int:
        if self.exitcode is None:
            self.exitcode = self.workers.wait(self.pid)
        return self.exitcode


class _Server:
    """This process's worker server (``server.main``), started on first use and again if it died,
    and the worker it lent, kept between programs."""

    def __init__(self, preload: list[str]) -> None:
        mine, theirs = socket.socketpair()
        self.lock = threading.Lock()
        self.sock = mine
        self.proc = subprocess.Popen([sys.executable, "-c", "from aotd.agent.sandbox.server import main; main()",
                                      str(theirs.fileno()), str(os.getpid())], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                     close_fds=True)
        theirs.close()
        self.loaded = set(preload)
        self.worker: _Worker | None = None
        server.send(self.sock, ("init", list(sys.path), preload))

    def preload(self, modules: set[str]) -> None:
        """Have the server import the modules of tool outputs it has not got: a worker would
        otherwise import them again, from disk, when it first unpickles such an output."""
        new = sorted(modules - self.loaded)
        if new:
            self.loaded.update(new)
            server.send(self.sock, ("import", new))

    def __enter__(self) -> _Server:
        self.lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def take(self, program: bytes) -> _Worker:
        """A worker that has been sent ``program`` (the pickled arguments of ``worker_loop``'s
        ``run``): the one kept from the program before, or a new one if it has gone meanwhile."""
        if self.worker is not None:
            try:
                self.worker.conn.send_bytes(program)
                return self.worker
            except OSError:  # it died while it waited (say, by the OOM killer)
                self.release(self.worker, reported=False, reuse=False)
        parent_end, worker_end = multiprocessing.Pipe()
        try:
            server.send(self.sock, ("worker",), (worker_end.fileno(),))
        finally:
            worker_end.close()
        reply = server.receive(self.sock)
        if reply is None:
            parent_end.close()
            raise RuntimeError("the sandbox's worker server died")
        self.worker = _Worker(self, reply[0][1], parent_end)
        parent_end.send_bytes(program)  # a pipe's buffer holds it: the worker reads it when it starts
        return self.worker

    def release(self, worker: _Worker, *, reported: bool, reuse: bool) -> None:
        """After a program: keep the worker for the next one (it reported, and ``reuse``: its
        program did not fail), or let it go. One that reported waits for its next program: end
        of file tells it to exit, and the server reaps it without a reply; any other is killed
        and reaped now (a no-op kill when it has exited: it stays a zombie until then)."""
        worker.programs += 1
        if reported and reuse and worker.programs < _PROGRAMS_PER_WORKER:
            return
        self.worker = None
        worker.conn.close()
        if reported:
            server.send(self.sock, ("forget", worker.pid))
        else:
            worker.kill()
            worker.reap()

    def wait(self, pid: int) -> int:
        server.send(self.sock, ("wait", pid))
        reply = server.receive(self.sock)
        return -signal.SIGKILL if reply is None else reply[0][1]

    def alive(self) -> bool:
        return self.proc.poll() is None


class _Watchdog:
    """One thread per process that kills each worker still running at its deadline. A thread
    per program cost a start and a join (~2 ms a program on two busy cores); this one sleeps
    until the earliest deadline armed and is told when one is added."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, _Worker]] = []  # a heap by deadline
        self._armed: set[int] = set()
        self._next = 0
        threading.Thread(target=self._run, name="sandbox-watchdog", daemon=True).start()

    def arm(self, at: float, worker: _Worker) -> int:
        with self._wake:
            self._next += 1
            heapq.heappush(self._due, (at, self._next, worker))
            self._armed.add(self._next)
            self._wake.notify()
            return self._next

    def disarm(self, ticket: int) -> None:
        """Synchronous: once this returns, the worker is not signalled by the watchdog."""
        with self._wake:
            self._armed.discard(ticket)

    def _run(self) -> None:
        with self._wake:
            while True:
                while self._due and self._due[0][1] not in self._armed:
                    heapq.heappop(self._due)
                if not self._due:
                    self._wake.wait()
                    continue
                at, ticket, worker = self._due[0]
                left = at - time.monotonic()
                if left > 0:
                    self._wake.wait(left)
                    continue
                heapq.heappop(self._due)
                self._armed.discard(ticket)
                worker.kill()


_WATCHDOGS: dict[int, _Watchdog] = {}  # by pid, like the servers: a thread does not survive a fork
_WATCHDOGS_LOCK = threading.Lock()


def _watchdog() -> _Watchdog:
    with _WATCHDOGS_LOCK:
        current = _WATCHDOGS.get(os.getpid())
        if current is None:
            current = _WATCHDOGS[os.getpid()] = _Watchdog()
        return current


_SERVERS: dict[int, _Server] = {}  # by pid of the process that started it: a forked child starts its own


def _server(inputs: Mapping[str, Any]) -> _Server:
    current = _SERVERS.get(os.getpid())
    modules = {__name__, *(m for v in inputs.values() for m in _modules(v))} - {"builtins"}
    if current is None or not current.alive():
        current = _SERVERS[os.getpid()] = _Server(sorted(modules))
    else:
        current.preload(modules)
    return current


def _result(outcome: Outcome, calls: list[ToolCall], start: float) -> SandboxResult:
    error = None if outcome.error is None else SandboxErrorInfo(**outcome.error)
    return SandboxResult(ok=error is None, value=outcome.value, error=error, calls=calls, stdout=outcome.stdout,
                         duration_s=time.perf_counter() - start, ops=outcome.ops)


def _failure(kind: str, message: str) -> Outcome:
    return Outcome(error={"kind": kind, "message": message, "line": None, "exc_type": None})


# -- parent side ---------------------------------------------------------------------------------
def _serve(worker: _Worker, conn: Connection, recorder: ToolRecorder, inputs: Mapping[str, Any],
           limits: Limits, kill_at: float, modules: set[str]) -> tuple[Outcome, bool]:
    """Answer the worker's tool calls until it reports, dies (end of file: it held the only other
    end of the pipe), or runs out of time; the outcome, and whether the worker reported it."""
    objects: dict[_Ref, Any] = {_Ref("input", key): value for key, value in inputs.items()}
    timeout = _failure("timeout", f"the program ran longer than {limits.timeout_s:g} s and was killed")
    while True:
        ready = wait([conn], timeout=max(kill_at - time.monotonic(), 0))
        if not ready:
            return timeout, False
        try:
            message = pickle.loads(conn.recv_bytes(_MAX_MESSAGE))
            if message[0] == "done":
                return message[1], True
            _, name, args, kwargs, line = message
            conn.send_bytes(_run_tool(recorder, objects, name, args, kwargs, line, modules))
        except (EOFError, OSError):
            return (timeout if time.monotonic() >= kill_at else _died(worker)), False


def _run_tool(recorder: ToolRecorder, objects: dict[_Ref, Any], name: str, args: list[Any],
              kwargs: dict[str, Any], line: int | None, modules: set[str]) -> bytes:
    args = [objects[a] if type(a) is _Ref else a for a in args]
    kwargs = {k: objects[v] if type(v) is _Ref else v for k, v in kwargs.items()}
    try:
        output = recorder(name, tuple(args), kwargs, line)
    except Exception as exc:
        try:
            data = pickle.dumps(("raise", exc, None))
            pickle.loads(data)  # an exception whose __init__ does not match its args cannot be rebuilt
            return data
        except Exception:
            return pickle.dumps(("raise", RuntimeError(f"{type(exc).__name__}: {exc}"), None))
    ref, sent = None, output
    modules |= _modules(output)
    if type(output).__module__ != "builtins":
        ref = _Ref("output", len(objects))
        objects[ref] = output
        if hasattr(type(output), "__sandbox_view__"):  # a trimmed clip travels without its pixels, as inputs do
            sent = output.__sandbox_view__()
    try:
        return pickle.dumps(("ok", sent, ref), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return pickle.dumps(("raise", TypeError(f"tool '{name}' returned an object that cannot be sent "
                                                f"to the sandbox: {exc}"), None))


def _died(worker: _Worker) -> Outcome:
    code = worker.reap()
    if code == -signal.SIGKILL:
        return _failure("memory", "the worker was killed (SIGKILL), most likely by the kernel for lack of memory")
    if code == -signal.SIGXCPU:
        return _failure("timeout", "the worker used up its CPU time")
    how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
    return _failure("crashed", f"the worker died without reporting ({how})")


# -- worker side ---------------------------------------------------------------------------------
def worker_loop(fd: int) -> None:
    """A worker, just handed the caller's pipe by the server (which made it die with the server):
    run each program the caller sends, under limits set for that program, and report it; exit at
    end of file."""
    conn = Connection(fd)
    for which in (resource.RLIMIT_CORE, resource.RLIMIT_NPROC):  # no core dumps, no processes
        resource.setrlimit(which, (0, 0))
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        source, tool_names, inputs, entry, limits, deadline = pickle.loads(data)
        _confine(limits)
        outcome = run_source(source, tool_names=tool_names, call_tool=_ToolClient(conn, inputs), inputs=inputs,
                             entry=entry, limits=limits, deadline=deadline)
        conn.send_bytes(pickle.dumps(("done", outcome), protocol=pickle.HIGHEST_PROTOCOL))


def _confine(limits: Limits) -> None:
    """Cap the worker's address space at what it has mapped now plus ``memory_mb``, and its CPU
    time at what it has used plus the program's budget (a backstop: the parent kills it first;
    SIGXCPU ends it, and a worker is never reused after a program that failed)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(used.ru_utime + used.ru_stime + limits.timeout_s) + 2
    for which, soft in ((resource.RLIMIT_AS, _mapped_bytes() + limits.memory_mb * 2**20), (resource.RLIMIT_CPU, cpu)):
        _, hard = resource.getrlimit(which)
        resource.setrlimit(which, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _mapped_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


class _ToolClient:
    """The worker's end of tool calls: sends them to the parent and waits for the output."""

    def __init__(self, conn: Connection, inputs: Mapping[str, Any]) -> None:
        self._conn = conn
        self._held: dict[int, tuple[Any, _Ref]] = {}
        for key, value in inputs.items():
            self._hold(value, _Ref("input", key))

    def _hold(self, value: Any, ref: _Ref | None) -> None:
        if ref is not None and type(value).__module__ != "builtins":
            self._held[id(value)] = (value, ref)

    def _encode(self, value: Any) -> Any:
        held = self._held.get(id(value))
        return held[1] if held is not None and held[0] is value else value

    def __call__(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], line: int | None) -> Any:
        message = ("call", name, [self._encode(a) for a in args], {k: self._encode(v) for k, v in kwargs.items()}, line)
        try:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(f"the arguments of tool '{name}' must be plain data: {exc}") from None
        if len(data) > _MAX_MESSAGE:
            raise SizeLimit(f"the arguments of tool '{name}' are too large to send ({len(data)} bytes)")
        self._conn.send_bytes(data)
        status, payload, ref = pickle.loads(self._conn.recv_bytes())
        if status == "raise":
            raise payload
        self._hold(payload, ref)
        return payload
