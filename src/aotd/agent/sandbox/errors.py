"""Violations: how the interpreter stops a program that breaks a rule or a limit.

They derive from ``BaseException``, not ``Exception``: a program's ``except`` clauses only ever
match the sandbox's exception types (all ``Exception`` subclasses, bare ``except`` included), so a
program cannot catch the signal that is stopping it, and neither can a tool's ``except Exception``
around a callback into the program.
"""

from __future__ import annotations

from typing import ClassVar

LINE_ATTR = "_sandbox_line"  # where an ordinary exception raised in the program was first seen


class Violation(BaseException):
    """The program was stopped; ``kind`` is the ``SandboxErrorInfo.kind`` it is reported as."""

    kind: ClassVar[str]

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class SyntaxViolation(Violation):
    kind = "syntax"


class NoEntry(Violation):
    kind = "no_entry"


class Forbidden(Violation):
    """An import, a dunder, a name or a node the sandbox does not offer."""

    kind = "forbidden"


class OpLimit(Violation):
    """Too many operations, loop iterations or tool calls."""

    kind = "op_limit"


class SizeLimit(Violation):
    """A value (or the program itself) would be larger than the limits allow."""

    kind = "size_limit"


class RecursionLimit(Violation):
    kind = "recursion"


class TimeLimit(Violation):
    kind = "timeout"


class MemoryLimit(Violation):
    kind = "memory"


def mark_line(exc: BaseException, line: int) -> None:
    """Remember the innermost program line an exception passed through (first mark wins)."""
    if isinstance(exc, Violation):
        if exc.line is None:
            exc.line = line
    elif getattr(exc, LINE_ATTR, None) is None:
        try:
            setattr(exc, LINE_ATTR, line)
        except (AttributeError, TypeError):  # exceptions with __slots__ and no __dict__
            pass


def host_failure(exc: BaseException) -> Violation | None:
    """The violation an interpreter-level failure stands for: the host ran out of stack or memory.

    ``RecursionError`` and ``MemoryError`` are ``Exception`` subclasses, so without this a program
    could catch the host running out of resources and carry on.
    """
    if isinstance(exc, RecursionError):
        return RecursionLimit("the program nested calls or values too deeply for the interpreter")
    if isinstance(exc, MemoryError):
        return MemoryLimit("the program ran out of memory")
    return None
