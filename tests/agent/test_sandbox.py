"""The planner-program sandbox: a corpus of hostile programs, real planner programs, the process boundary.

Each file in tests/agent/sandbox_corpus/ is one program whose first line says how it must end
(``# expect: <kind>`` or ``# expect: ok``). The tools below are test doubles of the vision tools;
the sandbox itself is real.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aotd.agent.sandbox import Limits, SandboxResult, run_in_process, run_program

CORPUS = sorted((Path(__file__).parent / "sandbox_corpus").glob("*.py"))
INPUTS = {"video": "VIDEO", "question": "What did the person take?", "choices": ["cup", "book"]}


def expected_kind(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect:"), f"{path.name} must start with '# expect: <kind>'"
    return first.split(":", 1)[1].strip()


def corpus_detect(video: Any, name: str, frames: list[int]) -> list[str]:
    return [f"{name}@{f}" for f in frames]


def explode(*args: Any) -> None:
    raise RuntimeError("the detector crashed")


CORPUS_TOOLS = {"detect": corpus_detect, "explode": explode}


def outcome(result: SandboxResult) -> str:
    return "ok" if result.ok else result.error.kind


def check_sane(result: SandboxResult) -> None:
    """Whatever happened, the result is bounded, JSON-serialisable and names the failing line."""
    json.dumps(result.to_dict())
    assert len(result.stdout) <= Limits().max_stdout + 100
    if result.error is not None:
        assert len(result.error.message) < 2_100
        if result.error.line is not None:
            assert result.error.message.startswith(f"line {result.error.line}:")


# -- the hostile corpus ------------------------------------------------------------------------------
def test_corpus_is_large_and_labelled() -> None:
    kinds = {expected_kind(p) for p in CORPUS}
    assert len(CORPUS) >= 100
    assert {"forbidden", "op_limit", "size_limit", "recursion", "runtime", "syntax", "no_entry", "ok"} <= kinds


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_in_process(path: Path) -> None:
    result = run_in_process(path.read_text(), tools=CORPUS_TOOLS, inputs=INPUTS)
    assert outcome(result) == expected_kind(path), result.error
    check_sane(result)


def _one_per_kind() -> list[Path]:
    seen: dict[str, Path] = {}
    for path in CORPUS:
        seen.setdefault(expected_kind(path), path)
    crashers = {"mem_tuple_nesting", "mem_genexp_chain", "exc_bare_except_loop"}  # would kill a worker if unguarded
    return [*seen.values(), *(p for p in CORPUS if p.stem in crashers)]


@pytest.mark.parametrize("path", _one_per_kind(), ids=lambda p: p.stem)
def test_corpus_in_worker_process(path: Path) -> None:
    result = run_program(path.read_text(), tools=CORPUS_TOOLS, inputs=INPUTS)
    assert outcome(result) == expected_kind(path), result.error
    check_sane(result)


def test_oversized_program_is_refused() -> None:
    source = "X = '" + "a" * 200_000 + "'\ndef execute_command(video, question, choices):\n    return 1\n"
    assert outcome(run_in_process(source, tools={}, inputs=INPUTS)) == "size_limit"


def test_in_process_deadline() -> None:
    limits = Limits(timeout_s=0.3, max_ops=10**9, max_iterations=10**9)
    start = time.monotonic()
    result = run_in_process("def execute_command(video, question, choices):\n    while True:\n        pass\n",
                            tools={}, inputs=INPUTS, limits=limits)
    assert outcome(result) == "timeout" and result.error.line in (2, 3)
    assert time.monotonic() - start < 2


def plain_python(source: str, tools: dict[str, Any], **inputs: Any) -> Any:
    """What CPython itself makes of a (trusted) test program, as JSON."""
    namespace: dict[str, Any] = dict(tools)
    exec(source, namespace)
    return json.loads(json.dumps(namespace["execute_command"](**{**INPUTS, **inputs})))


# -- realistic planner programs ------------------------------------------------------------------------
@dataclass
class Segment:
    start: int
    end: int
    frames: list[int]
    __sandbox_attributes__ = ("start", "end", "frames")

    def to_json(self) -> dict[str, Any]:
        return {"segment": [self.start, self.end]}


@dataclass
class Detection:
    label: str
    score: float
    frame: int
    secret: str = "host-only"  # public, but not in the allowlist
    __sandbox_attributes__ = ("label", "score", "frame")

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "frame": self.frame}


class FakeTools:
    """Deterministic stand-ins for the vision tools; remembers what reached it."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def find_action(self, video: Any, action: str) -> Segment | None:
        self.seen.append(video)
        return Segment(10, 20, list(range(10, 21))) if action == "open fridge" else None

    def trim(self, video: Any, start: int, end: int | None = None) -> Segment:
        self.seen.append(video)
        end = 31 if end is None else end
        return Segment(start, end, list(range(start, end + 1)))

    def detect(self, video: Any, name: str, frames: list[int]) -> list[Detection]:
        self.seen.append(video)
        out = []
        for f in frames:
            out.append(Detection("cup" if f % 4 == 0 else "book", 0.9 if f % 3 else 0.4, f))
        return out

    def query(self, video: Any, question: str, frames: list[int]) -> str:
        self.seen.append(video)
        return "The person is holding a Cup."

    def choose(self, question: str, choices: list[str], evidence: str) -> str:
        return choices[-1]

    def tools(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("find_action", "trim", "detect", "query", "choose")}


PLANNER = '''\
def execute_command(video, question, choices):
    """Which object did the person take after opening the fridge?"""
    span = find_action(video, "open fridge")
    if span is None:
        return choose(question, choices, "no fridge opening")
    after = trim(video, span.end)
    counts = {}
    for frame in after.frames[::2]:
        for det in detect(after, "object", [frame]):
            if det.score >= 0.5:
                counts[det.label] = counts.get(det.label, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    evidence = ", ".join(f"{label} x{n}" for label, n in ranked)
    print("evidence:", evidence)
    caption = query(after, f"What is the person holding? ({evidence})", after.frames[:4])
    for choice in choices:
        if choice.lower() in caption.lower():
            return {"answer": choice, "evidence": evidence}
    return {"answer": choose(question, choices, evidence), "evidence": evidence}
'''


def _line_of(text: str, source: str = PLANNER) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


@pytest.mark.parametrize("run", [run_in_process, run_program], ids=["in_process", "worker"])
def test_planner_program_and_trace(run: Any) -> None:
    fake = FakeTools()
    video = Segment(0, 31, list(range(32)))
    result = run(PLANNER, tools=fake.tools(), inputs={**INPUTS, "video": video})
    assert result.ok, result.error
    assert result.value == plain_python(PLANNER, FakeTools().tools(), video=video)
    assert result.value == {"answer": "cup", "evidence": "book x2, cup x2"}
    assert result.stdout == "evidence: book x2, cup x2\n"
    assert [c.name for c in result.calls] == ["find_action", "trim"] + ["detect"] * 6 + ["query"]
    first, trim, *detects, query = result.calls
    assert first.line == _line_of("find_action(") and first.output == {"segment": [10, 20]}
    assert first.args == [{"segment": [0, 31]}, "open fridge"]
    assert trim.line == _line_of("trim(") and trim.args[1] == 20
    assert all(c.line == _line_of("detect(") for c in detects)
    assert detects[0].output == [{"label": "cup", "score": 0.9, "frame": 20}]
    assert query.line == _line_of("query(") and query.output == "The person is holding a Cup."
    assert query.args[1] == "What is the person holding? (book x2, cup x2)"
    assert all(c.duration_s >= 0 and c.error is None for c in result.calls)
    # inputs and tool outputs reach the host tools as the host's own objects, in both modes
    assert fake.seen[0] is video and fake.seen[1] is video
    segment = fake.seen[2]
    assert all(seen is segment for seen in fake.seen[2:])
    json.dumps(result.to_dict())


def test_host_attributes_need_the_allowlist() -> None:
    fake = FakeTools()
    source = "def execute_command(video, question, choices):\n    return detect(video, 'x', [1])[0].secret\n"
    result = run_in_process(source, tools=fake.tools(), inputs=INPUTS)
    assert outcome(result) == "forbidden" and "secret" in result.error.message


LANGUAGE = '''\
SCALE = 10


def make_scaler(k):
    def scale(x, offset=0):
        return x * k + offset
    return scale


def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)


def total(*xs, start=0, **named):
    return start + sum(xs) + sum(named.values())


def execute_command(video, question, choices):
    double = make_scaler(2)
    a, *rest = [double(i, offset=1) for i in range(4)]
    pairs = {k: v for k, v in zip(choices, rest)}
    evens = {x for x in range(10) if x % 2 == 0}
    nested = [[i * j for j in range(3)] for i in range(1, 3) if i]
    first_big = next((x for x in rest if x > 4), None)
    items = [5, 6, 7, 8]
    items[1:3] = [0]
    del items[0]
    counts = {"a": 1}
    counts["a"] += 2
    n = 0
    while True:
        n += 1
        if n < 3:
            continue
        break
    else:
        n = -1
    for k in range(3):
        if k == 5:
            break
    else:
        n += 100
    words = question.lower().rstrip("?").split()
    width = 5
    text = f"{3.14159:.2f}|{42:>6}|{'x'!r}|{7:0{width}d}|{1234567:,}|{'%s-%d' % ('a', 2)}"
    fmt = "{0}/{name:>4}/{1[0]}".format("p", choices, name="q")
    return [a, rest, pairs, sorted(evens), nested, fact(10), total(1, 2, start=SCALE, extra=5),
            first_big, (lambda y=1: y + 1)(), items, counts, n, words[:2], text, fmt,
            isinstance(text, (str, int)), (walrus := len(words)), walrus > 0 and not None, 7 // 2, 2 ** 10,
            -abs(-3), round(2.567, 1), max(choices, key=len), min([3, 1, 2]), list(reversed([1, 2])),
            dict(enumerate("ab")), list(map(str, [1, 2])), list(filter(None, [0, 1, 2])), any([]), all([])]
'''


MORE_LANGUAGE = '''\
def execute_command(video, question, choices):
    adders = [lambda x, i=i: x + i for i in range(3)]
    late = [lambda: i for i in range(3)]
    grid = {}
    for row, line in enumerate(["ab", "cd"], start=1):
        for col, ch in enumerate(line):
            grid.setdefault(row, []).append((col, ch))
    ordered = sorted(choices, key=len, reverse=True)
    ordered.sort(key=lambda c: c[-1])
    a, b = {1, 2, 3}, {2, 3, 4}
    x = None
    parts = "a=1; b=2; c=3".split("; ", maxsplit=1)
    stack = [1, 2, 3]
    popped = stack.pop()
    return [
        [f(10) for f in adders], [f() for f in late], grid, ordered, sorted(a | b), sorted(a & b),
        sorted(a - b), sorted(a ^ b), 1 < 2 <= 2 < 3, 1 < 2 > 3, x is None, "cup" not in choices,
        question[::-1][:5], -7 // 2, -7 % 3, 7 / 2, 2 ** -1, ~5, 5 >> 1, 3 | 4, "ab" * 3, [0] * 3,
        parts, stack, popped, {**{"k": 1}, "j": 2}, [*"ab", *range(2)], "x" if x else "y",
        len({c: None for c in "hello"}), any(c.isupper() for c in question), "-".join(reversed(parts)),
        question.startswith(("What", "Why")), round(-2.5), int("42") + float("0.5"), str(3.0), bool([]),
        list(zip(choices, [1, 2], strict=True)), tuple(choices), ("a", 1) < ("b", 0), max(3, 1, 2),
    ]
'''


@pytest.mark.parametrize("source", [LANGUAGE, MORE_LANGUAGE], ids=["language", "more_language"])
def test_language_subset_matches_python(source: str) -> None:
    result = run_in_process(source, tools={}, inputs=INPUTS)
    assert result.ok, result.error
    assert result.value == plain_python(source, {})
    assert result.ops and result.ops > 100


def test_format_specs() -> None:
    result = run_in_process(LANGUAGE, tools={}, inputs=INPUTS)
    assert result.value[13] == "3.14|    42|'x'|00007|1,234,567|a-2"


EXCEPTIONS = '''\
def parse(text):
    if not text.isdigit():
        raise ValueError(f"not a number: {text}")
    return int(text)


def execute_command(video, question, choices):
    log = []
    for text in ["1", "x", "3"]:
        try:
            value = parse(text)
        except (KeyError, ValueError) as e:
            log.append("bad " + str(e.args[0]))
        else:
            log.append(value)
        finally:
            log.append("/")
    try:
        try:
            {}["missing"]
        except KeyError:
            raise
    except LookupError:
        log.append("re-raised")
    try:
        explode(video)
    except RuntimeError as e:
        log.append(str(e))
    try:
        raise IndexError("a") from ValueError("b")
    except Exception as e:
        log.append(e.args)
    return log
'''


def test_exceptions_inside_the_program() -> None:
    result = run_in_process(EXCEPTIONS, tools={"explode": explode}, inputs=INPUTS)
    assert result.ok, result.error
    assert result.value == plain_python(EXCEPTIONS, {"explode": explode})
    assert result.value == [1, "/", "bad not a number: x", "/", 3, "/", "re-raised", "the detector crashed", ["a"]]
    [call] = result.calls
    assert call.name == "explode" and call.error == "RuntimeError: the detector crashed"
    assert call.line == _line_of("explode(video)", EXCEPTIONS)


@pytest.mark.parametrize("run", [run_in_process, run_program], ids=["in_process", "worker"])
def test_uncaught_errors_name_their_line(run: Any) -> None:
    source = EXCEPTIONS.replace('["1", "x", "3"]', '["y"]').replace("except (KeyError, ValueError)", "except KeyError")
    result = run(source, tools={"explode": explode}, inputs=INPUTS)
    assert outcome(result) == "runtime" and result.error.exc_type == "ValueError"
    assert result.error.line == _line_of("raise ValueError", EXCEPTIONS)
    assert result.error.message == f"line {result.error.line}: ValueError: not a number: y"
    failing = run("def execute_command(video, question, choices):\n    x = 1\n    assert x == 2, 'x is not 2'\n",
                  tools={}, inputs=INPUTS)
    assert failing.error.exc_type == "AssertionError" and failing.error.message == "line 3: AssertionError: x is not 2"
    tool_error = run("def execute_command(video, question, choices):\n    return explode(video)\n",
                     tools={"explode": explode}, inputs=INPUTS)
    assert tool_error.error.message == "line 2: RuntimeError: the detector crashed"
    assert tool_error.calls[0].error == "RuntimeError: the detector crashed"


def test_generator_expressions_are_lazy() -> None:
    fake = FakeTools()
    source = ("def execute_command(video, question, choices):\n"
              "    return any(len(detect(video, obj, [0])) > 0 for obj in ['cup', 'book', 'phone'])\n")
    result = run_in_process(source, tools=fake.tools(), inputs=INPUTS)
    assert result.value is True and len(result.calls) == 1


def test_program_cannot_change_the_callers_inputs() -> None:
    choices = ["cup", "book"]
    source = "def execute_command(video, question, choices):\n    choices.append('hacked')\n    return choices\n"
    result = run_in_process(source, tools={}, inputs={**INPUTS, "choices": choices})
    assert result.value == ["cup", "book", "hacked"] and choices == ["cup", "book"]


def test_printing_is_bounded_not_fatal() -> None:
    limits = Limits(max_stdout=1000)
    source = ("def execute_command(video, question, choices):\n"
              "    for i in range(500):\n        print(i, 'x' * 50)\n    return 1\n")
    result = run_in_process(source, tools={}, inputs=INPUTS, limits=limits)
    assert result.ok and result.stdout.endswith("[stdout truncated]\n") and len(result.stdout) < 1100


def test_host_mistakes_are_reported_to_the_host() -> None:
    with pytest.raises(ValueError, match="cannot name a sandbox tool"):
        run_in_process("", tools={"len": len}, inputs={})
    with pytest.raises(ValueError, match="cannot name a sandbox tool"):
        run_program("", tools={"_private": len}, inputs={})
    with pytest.raises(ValueError, match="must be positive"):
        Limits(max_ops=0)


# -- the process boundary ----------------------------------------------------------------------------
HOSTILE_LIMITS = Limits(timeout_s=2, memory_mb=512, max_ops=10**12, max_iterations=10**12, max_size=10**12,
                        max_alloc=10**15)  # only the OS limits are left to stop these


def _sandbox_workers() -> list[int]:
    """Pids of the workers the sandbox's server has forked and not yet reaped (Linux /proc), less
    the spare that waits for the next program."""
    from aotd.agent.sandbox import process
    from aotd.agent.sandbox.server import SPARE

    server = process._SERVERS.get(os.getpid())
    if server is None:
        return []
    pid = server.proc.pid
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if _comm(c) != SPARE.decode()]


def _workers_settled(within_s: float = 2.0) -> list[int]:
    """``_sandbox_workers()`` once the server has caught up: a worker that reported is reaped
    after the caller has its result, and a spare just forked takes its name a moment later."""
    deadline = time.monotonic() + within_s
    while (left := _sandbox_workers()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("body, kind", [
    ("    while True:\n        pass\n", "timeout"),
    ("    x = [0] * (10 ** 10)\n    return len(x)\n", "memory"),
    ("    x = []\n    while True:\n        x.append([0] * 10 ** 7)\n", "memory"),  # 80 MB a step: over 512 MB fast even on a loaded machine
], ids=["infinite_loop", "one_huge_list", "growing_lists"])
def test_worker_is_stopped_and_parent_survives(body: str, kind: str) -> None:
    rss_before = _maxrss_mb()
    start = time.monotonic()
    result = run_program("def execute_command(video, question, choices):\n" + body, tools={}, inputs=INPUTS,
                         limits=HOSTILE_LIMITS)
    elapsed = time.monotonic() - start
    assert outcome(result) == kind, result.error
    assert elapsed < HOSTILE_LIMITS.timeout_s + 2.5
    assert _maxrss_mb() - rss_before < 100  # the parent never held the bomb
    assert not _workers_settled()
    # and the parent still works, immediately
    again = run_program("def execute_command(video, question, choices):\n    return choices[0]\n", tools={},
                        inputs=INPUTS)
    assert again.ok and again.value == "cup"


def _lent_worker() -> int | None:
    from aotd.agent.sandbox import process

    server = process._SERVERS.get(os.getpid())
    return None if server is None or server.worker is None else server.worker.pid


def test_a_worker_runs_program_after_program_each_in_a_fresh_interpreter_and_is_replaced_after_a_failure() -> None:
    first = "LEFT = ['behind']\ndef execute_command(video, question, choices):\n    LEFT.append(1)\n    return choices[0]\n"
    assert run_program(first, tools={}, inputs=INPUTS).value == "cup"
    worker = _lent_worker()
    assert worker is not None
    # the next program runs in the same process, and sees nothing of the one before
    peek = "def execute_command(video, question, choices):\n    return LEFT\n"
    failed = run_program(peek, tools={}, inputs=INPUTS)
    assert outcome(failed) == "runtime" and "LEFT" in failed.error.message
    assert _lent_worker() is None  # a program that failed takes its worker with it
    assert not _workers_settled()
    for _ in range(3):
        assert run_program(first, tools={}, inputs=INPUTS).ok
    fresh = _lent_worker()
    assert fresh is not None and fresh != worker
    # every limit still holds in a worker that has run programs before
    bomb = run_program("def execute_command(video, question, choices):\n    x = [0] * (10 ** 10)\n    return len(x)\n",
                       tools={}, inputs=INPUTS, limits=HOSTILE_LIMITS)
    assert outcome(bomb) == "memory" and _lent_worker() is None
    assert run_program(first, tools={}, inputs=INPUTS).ok


def test_a_worker_killed_while_it_waits_for_its_next_program_is_replaced() -> None:
    ok = "def execute_command(video, question, choices):\n    return choices[1]\n"
    assert run_program(ok, tools={}, inputs=INPUTS).value == "book"
    worker = _lent_worker()
    assert worker is not None
    os.kill(worker, signal.SIGKILL)
    time.sleep(0.1)
    result = run_program(ok, tools={}, inputs=INPUTS)
    assert result.ok and result.value == "book" and _lent_worker() not in (None, worker)


def test_trace_survives_a_killed_worker() -> None:
    source = ("def execute_command(video, question, choices):\n    detect(video, 'cup', [1])\n"
              "    while True:\n        pass\n")
    result = run_program(source, tools=CORPUS_TOOLS, inputs=INPUTS,
                         limits=Limits(timeout_s=0.5, max_ops=10**12, max_iterations=10**12))
    assert outcome(result) == "timeout"
    assert [(c.name, c.line, c.output) for c in result.calls] == [("detect", 2, ["cup@1"])]


def test_worker_is_killed_on_time_during_a_slow_tool() -> None:
    def slow() -> int:
        time.sleep(1.5)
        return 1

    source = "def execute_command(video, question, choices):\n    return slow()\n"
    start = time.monotonic()
    result = run_program(source, tools={"slow": slow}, inputs=INPUTS, limits=Limits(timeout_s=0.3))
    assert outcome(result) == "timeout"  # killed by the parent's watchdog, not reported as out of memory
    assert time.monotonic() - start < 2.5


def test_worker_that_dies_is_reported_as_crashed() -> None:
    def assassin() -> str:
        for pid in _sandbox_workers():
            os.kill(pid, signal.SIGTERM)
        time.sleep(0.2)
        return "done"

    source = "def execute_command(video, question, choices):\n    assassin()\n    return 1\n"
    result = run_program(source, tools={"assassin": assassin}, inputs=INPUTS)
    assert outcome(result) == "crashed" and "SIGTERM" in result.error.message
    assert [c.name for c in result.calls] == ["assassin"]


def test_tool_arguments_must_be_data_in_the_worker() -> None:
    source = "def execute_command(video, question, choices):\n    return detect(video, lambda: 1, [])\n"
    result = run_program(source, tools=CORPUS_TOOLS, inputs=INPUTS)
    assert outcome(result) == "runtime" and "plain data" in result.error.message


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init, which may be slow in a container)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


CALLER = '''
import os, threading, time
from pathlib import Path
from aotd.agent.sandbox import Limits, process, run_program

def report():
    time.sleep(1.0)
    server = process._SERVERS[os.getpid()].proc.pid
    print(server, *Path(f"/proc/{server}/task/{server}/children").read_text().split(), flush=True)

threading.Thread(target=report, daemon=True).start()
run_program("def execute_command(video, question, choices):\\n    return wait()\\n", tools={"wait": lambda: time.sleep(60)},
            inputs={"video": None, "question": "q", "choices": ["a"]}, limits=Limits(timeout_s=60))
'''


def test_no_worker_or_server_outlives_a_caller_killed_mid_program(tmp_path: Path) -> None:
    """SIGKILL the caller while its worker waits for a tool's reply: the server, the worker and the
    spare go within seconds (a worker holds no end of the caller's pipe, and each dies with its parent)."""
    import subprocess
    import sys

    script = tmp_path / "caller.py"
    script.write_text(CALLER)
    caller = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in (caller.stdout.readline() if caller.stdout else "").split()]
    finally:
        caller.kill()
        caller.wait()
    assert len(pids) == 3, pids  # the server, the worker waiting and the spare forked for the next program
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _running(p)]


def test_a_clip_reaches_the_worker_without_its_pixels_and_tools_get_the_original() -> None:
    import numpy as np

    from aotd.data.sampling import SampledFrames
    from aotd.tools.clip import Clip

    clip = Clip(SampledFrames(np.full((32, 12, 16, 3), 7, np.uint8), list(range(32)), 10.0), "v1").trim(4, 9)
    source = ("def execute_command(video, question, choices):\n"
              "    return [video.first, video.last, video.video_id, brightness(video)]\n")
    result = run_program(source, tools={"brightness": lambda c: int(c.frames().mean()) * len(c)},
                         inputs={"video": clip, "question": "q", "choices": ["a"]})
    assert result.ok and result.value == [4, 9, "v1", 42]


# -- nothing the program holds shows a host object -------------------------------------------------
def test_no_value_a_program_can_hold_shows_a_host_address_or_class_path(world_dir: Path) -> None:
    """Every offered builtin, every allowlisted method, the program's own callables and
    iterators, the inputs and every tool's output, printed and formatted every way Python can:
    no heap address, no ``aotd.`` class path (they would reach traces, CoTs and training data)."""
    from conftest import cheap_config

    from aotd.agent.build import tool_factory
    from aotd.agent.sandbox.builtins import BUILTIN_NAMES
    from aotd.data.loaders import load_dataset
    from aotd.data.video import sample_video
    from aotd.tools.clip import Clip

    sample = load_dataset("star", world_dir).by_split("train")[0]
    clip = Clip(sample_video(sample.video.path, start_s=sample.start, end_s=sample.end), sample.video.video_id)
    api = tool_factory(cheap_config())(sample, clip)
    choices = [c.text for c in sample.choices]
    methods = ["'a'.format", "'a'.join", "'a'.upper", "[1].append", "[1].sort", "{1: 2}.get", "{1: 2}.items",
               "{1}.add", "(1,).count", "(1.5).is_integer"]
    tools = ["detect(video, choices[0])", "find_object(video, choices[0])", "exists(video, choices[0])",
             "find_action(video, question)", "recognize_actions(video)", "trim(video, 0, 4)",
             "query(video, question, choices)", "choose(choices, 1)", "detect", "trim"]
    values = [*sorted(BUILTIN_NAMES), *methods, *tools, "f", "g", "(c for c in choices)", "iter(choices)",
              "iter({1: 2})", "video", "ValueError('x')", "range(3)", "{1: 2}.keys()"]
    program = ("def execute_command(video, question, choices):\n"
               "    f = lambda x: x\n"
               "    def g():\n        return 1\n"
               f"    values = [{', '.join(values)}]\n"
               "    texts = [str(values), '{}'.format(values), '%r' % (values,)]\n"
               "    for v in values:\n"
               "        texts += [str(v), f'{v!r}', f'{v}', '{!r}'.format(v), '%s' % (v,)]\n"
               "        print(v, [v], {'k': v})\n"
               "    return texts\n")
    for run in (run_in_process, run_program):
        result = run(program, tools=api.functions(), inputs={"video": clip, "question": sample.question,
                                                             "choices": choices})
        assert result.ok, result.error
        shown = json.dumps(result.value) + result.stdout + json.dumps(result.to_dict())
        for leak in re.findall(r"0x[0-9a-f]{6,}|aotd\.[a-z_.]+|SandboxBuiltins", shown):
            raise AssertionError(f"{leak} in: ...{shown[max(0, shown.find(leak) - 200):shown.find(leak) + 80]}")
        assert "<built-in function print>" in result.stdout and "<built-in method append of list object>" in shown


def test_double_star_goes_through_the_allowlist() -> None:
    """``f(**x)`` and ``{**x}`` take dicts only, as Python does, and never call a host object's ``items``."""
    for body, message in (("f(**[1, 2, 3])", "argument after ** must be a mapping, not list"),
                          ("f(**video)", "argument after ** must be a mapping, not Clip"),
                          ("{**video}", "'Clip' object is not a mapping")):
        program = f"def f(**k):\n    return k\ndef execute_command(video):\n    return {body}\n"
        result = run_in_process(program, tools={}, inputs={"video": Clip()})
        assert result.error is not None and result.error.exc_type == "TypeError", result.error
        assert message in result.error.message


class Clip:
    """A host object with ``items``/``keys``, which a ``**`` must not reach."""

    def keys(self) -> list[str]:
        raise AssertionError("the host's keys() was called")

    def items(self) -> list[tuple[str, int]]:
        raise AssertionError("the host's items() was called")


PLANNER_STYLE = '''
import math
import re
import statistics
from collections import Counter, defaultdict, deque, OrderedDict
from functools import reduce
from itertools import chain, combinations, groupby, pairwise, product

def execute_command(video, question, choices):
    first = next(iter(choices))
    words = re.findall(r"[a-z]+", question.lower())
    counts = Counter(words)
    by_length = defaultdict(list)
    for w in words:
        by_length[len(w)].append(w)
    recent = deque(maxlen=2)
    for w in words:
        recent.append(w)
    order = OrderedDict((w, i) for i, w in enumerate(words))
    order.move_to_end(words[0])
    try:
        statistics.mean([])
    except statistics.StatisticsError:
        empty = "no mean"
    m = re.search(r"(\\w+) the", question)
    return {
        "first": first, "top": counts.most_common(1)[0][0], "by_length": dict(by_length), "recent": list(recent),
        "last_key": list(order)[-1], "empty": empty, "group": m.group(1) if m else None,
        "sqrt": math.floor(math.sqrt(17)), "median": statistics.median([3, 1, 2]),
        "sum": reduce(lambda a, b: a + b, [1, 2, 3], 0), "pairs": len(combinations(choices, 2)),
        "chain": chain([1], (2, 3)), "grid": len(product(range(3), repeat=2)), "steps": pairwise([1, 2, 3]),
        "runs": [(k, len(g)) for k, g in groupby("aabccc")], "sub": re.sub(r"\\s+", " ", "a   b"),
        "isinstance": isinstance(counts, Counter), "shown": [str(math), repr(iter([])), str(re.compile("a").sub)],
    }
'''


@pytest.mark.parametrize("run", [run_in_process, run_program], ids=["in_process", "worker"])
def test_common_planner_python_runs(run) -> None:
    """``iter``, the pure modules and collections' containers, as planners write them."""
    result = run(PLANNER_STYLE, tools={}, inputs=INPUTS)
    assert result.ok, result.error
    value = result.value
    assert value["first"] == "cup" and value["top"] == "what" and value["by_length"]["4"] == ["what", "take"]
    assert value["recent"] == ["person", "take"] and value["last_key"] == "what" and value["empty"] == "no mean"
    assert value["group"] == "did" and value["sqrt"] == 4 and value["median"] == 2 and value["sum"] == 6
    assert (value["pairs"], value["chain"], value["grid"]) == (1, [1, 2, 3], 9)
    assert value["steps"] == [[1, 2], [2, 3]] and value["runs"] == [["a", 2], ["b", 1], ["c", 3]]
    assert value["sub"] == "a b" and value["isinstance"] is True
    assert value["shown"] == ["<module 'math'>", "<list_iterator>", "<built-in method sub of Pattern object>"]


@pytest.mark.parametrize(("program", "message"), [
    ("class A:\n    pass\n", "classes are not supported in tool programs"),
    ("def execute_command(video):\n    with video:\n        return 1\n", "'with' is not supported in tool programs"),
    ("import os\n", "importing 'os' is not supported in tool programs; the modules offered are collections, "
                    "functools, itertools, math, re, statistics"),
    ("from math import factorial\n", "'math.factorial' is not offered in tool programs"),
    ("import math\ndef execute_command(video):\n    return math.prod([1])\n", "'math.prod' is not offered"),
])
def test_refused_constructs_say_so_plainly(program: str, message: str) -> None:
    result = run_in_process(program, tools={}, inputs={"video": 1})
    assert result.error is not None and result.error.kind == "forbidden" and message in result.error.message


def test_a_spare_killed_while_it_waits_is_replaced() -> None:
    """The server forks each worker ahead (a spare); one killed while it waits costs nothing."""
    from aotd.agent.sandbox import process
    from aotd.agent.sandbox.server import SPARE

    program = "def execute_command(video, question, choices):\n    return choices[0]\n"
    assert run_program(program, tools={}, inputs=INPUTS).ok
    server = process._SERVERS[os.getpid()].proc.pid
    deadline = time.monotonic() + 5
    while not (spares := [int(p) for p in Path(f"/proc/{server}/task/{server}/children").read_text().split()
                          if _comm(int(p)) == SPARE.decode()]):
        assert time.monotonic() < deadline, "no spare was forked"
        time.sleep(0.01)
    os.kill(spares[0], signal.SIGKILL)
    time.sleep(0.1)
    result = run_program(program, tools={}, inputs=INPUTS)
    assert result.ok and result.value == "cup" and process._SERVERS[os.getpid()].proc.pid == server
