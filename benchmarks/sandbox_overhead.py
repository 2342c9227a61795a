"""What the sandbox costs: the same planner-style programs run by the sandbox interpreter, by plain
``exec`` and, when it can be imported, by smolagents' ``LocalPythonExecutor``.

    python benchmarks/sandbox_overhead.py [--repeat 30]

smolagents is not a dependency; to include it, install it anywhere importable, e.g.
``pip install --target /tmp/smol smolagents`` and run with ``PYTHONPATH=/tmp/smol``.

Every mode parses and runs the program from source on every repetition (as the agent step does,
one program per question) with the same cheap, numpy-free tools, and all modes must agree on the
answer (exit status 1 if the sandbox disagrees with ``exec``). Prints the median time per run and
the ratio to ``exec``; the last line is the extra cost of ``run_program``'s worker process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from aotd.agent.sandbox import run_in_process, run_program


def find_action(video: str, action: str) -> dict[str, int] | None:
    return {"start": 10, "end": 20} if "fridge" in action else None


def detect(video: str, name: str, frames: list[int]) -> list[dict[str, Any]]:
    return [{"label": "cup" if f % 4 == 0 else "book", "score": 0.9 if f % 3 else 0.4, "frame": f} for f in frames]


def query(video: str, question: str, frames: list[int]) -> str:
    return f"The person is holding a cup in frames {frames[0]}-{frames[-1]}."


TOOLS: dict[str, Callable[..., Any]] = {"find_action": find_action, "detect": detect, "query": query}
INPUTS = {"video": "video-0001", "question": "What did the person take after opening the fridge?",
          "choices": ["The cup.", "The book.", "The phone.", "The towel."]}

PROGRAMS = {
    "planner": '''
def execute_command(video, question, choices):
    span = find_action(video, "open the fridge")
    if span is None:
        return choices[0]
    counts = {}
    for frame in range(span["end"], 32, 2):
        for det in detect(video, "object", [frame]):
            if det["score"] >= 0.5:
                counts[det["label"]] = counts.get(det["label"], 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    caption = query(video, "What is the person holding?", list(range(span["end"], 32)))
    for choice in choices:
        if choice.lower().strip(".").split()[-1] in caption.lower():
            return choice
    return choices[0]
''',
    "loops": '''
def execute_command(video, question, choices):
    frames = list(range(32))
    boxes = [[(f * 7 + i * 13) % 100 for i in range(4)] for f in frames]
    moving = 0
    for i in range(1, len(boxes)):
        dx = sum(abs(a - b) for a, b in zip(boxes[i], boxes[i - 1]))
        if dx > 50:
            moving += 1
    areas = {f: (b[2] - b[0]) * (b[3] - b[1]) for f, b in zip(frames, boxes)}
    biggest = max(areas, key=lambda f: areas[f])
    total = 0
    for a in range(60):
        for b in range(20):
            total += (a * b) % 7
    return [moving, biggest, total]
''',
    "functions": '''
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def overlap(a, b):
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))

def execute_command(video, question, choices):
    spans = [(i, i + 5) for i in range(0, 40, 3)]
    best = max(((a, b) for a in spans for b in spans if a != b), key=lambda p: overlap(*p))
    return [fib(14), best]
''',
    "strings": '''
def execute_command(video, question, choices):
    words = question.lower().rstrip("?").split()
    lines = []
    for i in range(150):
        choice = choices[i % len(choices)]
        lines.append(f"{i:03d} {choice.upper():<12}|{len(choice):>3}|{' '.join(words[:3])}")
    text = "\\n".join(lines)
    return [len(text), text.count("CUP"), lines[-1]]
''',
}


def via_exec(source: str) -> Any:
    namespace: dict[str, Any] = dict(TOOLS)
    exec(compile(source, "<program>", "exec"), namespace)
    return namespace["execute_command"](**INPUTS)


def via_sandbox(source: str) -> Any:
    result = run_in_process(source, tools=TOOLS, inputs=INPUTS)
    if not result.ok:
        raise RuntimeError(result.error)
    return result.value


def via_worker(source: str) -> Any:
    result = run_program(source, tools=TOOLS, inputs=INPUTS)
    if not result.ok:
        raise RuntimeError(result.error)
    return result.value


def smolagents_runner() -> tuple[Callable[[str], Any] | None, str]:
    try:
        from smolagents.local_python_executor import LocalPythonExecutor
    except Exception as exc:  # any import failure means: not available here
        return None, f"smolagents is not importable here ({type(exc).__name__}: {exc})"

    def run(source: str) -> Any:
        executor = LocalPythonExecutor(additional_authorized_imports=[], timeout_seconds=None)
        executor.send_tools(dict(TOOLS))
        executor.send_variables(dict(INPUTS))
        return executor(source + "\nexecute_command(video, question, choices)\n").output

    import smolagents
    return run, f"smolagents {smolagents.__version__} LocalPythonExecutor (timeout_seconds=None: no thread per call)"


def median_ms(run: Callable[[str], Any], source: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(source)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    smol, smol_note = smolagents_runner()
    print(f"python {sys.version.split()[0]}; median of {args.repeat} runs per cell; {smol_note}")
    header = f"{'program':10} {'exec ms':>9} {'sandbox ms':>11} {'ratio':>7}"
    if smol:
        header += f" {'smolagents ms':>14} {'ratio':>7}"
    print(header)
    agree = True
    for name, source in PROGRAMS.items():
        expected = as_json(via_exec(source))
        same = as_json(via_sandbox(source)) == expected
        agree &= same
        base = median_ms(via_exec, source, args.repeat)
        sandbox = median_ms(via_sandbox, source, args.repeat)
        row = f"{name:10} {base:9.3f} {sandbox:11.3f} {sandbox / base:6.1f}x" + ("" if same else " (WRONG ANSWER)")
        if smol:
            try:
                smol_same = as_json(smol(source)) == expected
            except Exception as exc:  # smolagents' interpreter does not run every program
                row += f"  fails: {str(exc).splitlines()[-1].split('due to: ')[-1][:90]}"
            else:
                other = median_ms(smol, source, args.repeat)
                row += f" {other:14.3f} {other / base:6.1f}x" + ("" if smol_same else " (WRONG ANSWER)")
        print(row)
    assert as_json(via_worker(PROGRAMS["planner"])) == as_json(via_exec(PROGRAMS["planner"]))
    worker = median_ms(via_worker, PROGRAMS["planner"], args.repeat)
    inproc = median_ms(via_sandbox, PROGRAMS["planner"], args.repeat)
    print(f"run_program (forked worker) on 'planner': {worker:.3f} ms per run, "
          f"{worker - inproc:.3f} ms more than run_in_process")
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
