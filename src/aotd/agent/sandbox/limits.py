"""Resource limits of one sandboxed run."""

from __future__ import annotations

from dataclasses import dataclass

MAX_NESTING = 60
"""Deepest AST a program may have: keeps the interpreter's own Python recursion well inside
Python's limit even at the deepest allowed call depth."""

MAX_TUPLE_DEPTH = 50
"""Deepest tuple-in-tuple nesting a program may build. CPython hashes nested tuples recursively in
C with no depth check, so hashing a tuple nested ~150,000 deep kills the process with a segfault."""


@dataclass(frozen=True)
class Limits:
    """What one run may use. Sizes count elements of containers and characters of strings.

    ``timeout_s`` and ``memory_mb`` are enforced by the OS on the worker process of
    ``run_program`` (the in-process interpreter also stops itself at the deadline); everything
    else is counted by the interpreter in both modes.
    """

    timeout_s: float = 30.0
    memory_mb: int = 1024  # address space the worker may add to what it inherited at fork
    max_ops: int = 1_000_000  # node evaluations
    max_iterations: int = 100_000  # loop and comprehension iterations, all loops together
    max_depth: int = 32  # nested calls of the program's own functions
    max_size: int = 1_000_000  # one string, container, range, format width, or the JSON return value
    max_alloc: int = 50_000_000  # all strings and containers the program creates, cumulatively
    max_int_bits: int = 10_000
    max_tool_calls: int = 500
    max_stdout: int = 65_536  # printed characters kept; the rest is dropped and marked
    max_source: int = 100_000  # characters of program text

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {value}")
