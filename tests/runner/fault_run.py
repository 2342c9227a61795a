"""A run to kill: ``python tests/fault_run.py OUT ITEMS WORKERS [SLOW_START_S [EXECUTOR]]``.

Each item runs a sandbox program (in a worker the sandbox's server forked) that spins
for a while and calls a slow tool, so that a kill finds every kind of process a run starts:
``--workers`` processes and the resource tracker, the sandbox's server and its workers.
``SLOW_START_S`` makes a ``--workers`` process take that long to unpickle its stage, as a real
stage's imports do: a kill in that window is one the worker learns of only after it has started.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from aotd.agent.sandbox import run_program
from aotd.runner import run_stage

PROGRAM = """
def execute_command(n):
    total = 0
    for i in range(20000):
        total += i % 7
    return wait(n) * n + total - total
"""


def wait(n: int) -> int:
    time.sleep(0.05)
    return n


class SandboxStage:
    name = "fault"
    fingerprint = "fault-1"

    def __init__(self, slow_start_s: float = 0.0) -> None:
        self.slow_start_s = slow_start_s

    def __setstate__(self, state: dict[str, float]) -> None:
        time.sleep(state["slow_start_s"])
        self.__dict__.update(state)

    def key(self, item: int) -> str:
        return f"q{item:03d}"

    def setup(self) -> None:
        pass

    def process(self, item: int) -> tuple[str, dict[str, float]]:
        result = run_program(PROGRAM, tools={"wait": wait}, inputs={"n": item})
        return self._line(item, result.value, None if result.ok else result.error.message), \
            {"exec_s": round(result.duration_s, 4)}

    def failed(self, item: int, reason: str) -> str:
        return self._line(item, None, reason)

    def _line(self, item: int, value: object, error: str | None) -> str:
        return json.dumps({"sample_id": self.key(item), "value": value, "error": error,
                           "provenance": {"config": self.fingerprint}})


if __name__ == "__main__":
    out, items, workers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    slow_start_s = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    executor = sys.argv[5] if len(sys.argv) > 5 else "local"
    report = run_stage(SandboxStage(slow_start_s), range(items), out, workers=workers, executor=executor,
                       progress=False)
    print(json.dumps(report.to_dict()))
