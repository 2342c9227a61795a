"""One run of a program, from source text to an ``Outcome``; shared by both execution modes."""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .builtins import BUILTIN_NAMES
from .errors import LINE_ATTR, Violation, host_failure
from .interpreter import Interpreter, ToolCaller
from .limits import Limits
from .sizes import exception_text
from .trace import jsonable
from .validate import parse_program

_MESSAGE_CHARS = 2_000


@dataclass
class Outcome:
    """What the interpreter reports; plain data so that it can cross the process boundary."""

    value: Any = None
    error: dict[str, Any] | None = None  # SandboxErrorInfo fields
    stdout: str = ""
    ops: int | None = None


def check_tool_names(names: Iterable[str]) -> None:
    """Tools are named by the host; a bad name is a bug in the host, not in the program."""
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name in BUILTIN_NAMES:
            raise ValueError(f"'{name}' cannot name a sandbox tool: use a public identifier that is not a builtin")


def run_source(source: str, *, tool_names: Iterable[str], call_tool: ToolCaller, inputs: Mapping[str, Any],
               entry: str, limits: Limits, deadline: float) -> Outcome:
    """Parse, check and run ``source``, then call ``entry(**inputs)``; never raises for the program."""
    tool_names = tuple(tool_names)
    interp = Interpreter(limits=limits, tool_names=tool_names, call_tool=call_tool, deadline=deadline)
    try:
        tree = parse_program(source, limits, offered=BUILTIN_NAMES, tools=frozenset(tool_names))
        module = interp.load(tree)
        value = jsonable(interp.run_entry(module, entry, inputs), limits.max_size, strict=True)
    except (Violation, Exception) as exc:
        return Outcome(error=describe(exc), stdout=interp.stdout.getvalue(), ops=interp.ops)
    return Outcome(value=value, stdout=interp.stdout.getvalue(), ops=interp.ops)


def describe(exc: BaseException) -> dict[str, Any]:
    """``SandboxErrorInfo`` fields for whatever stopped the program."""
    violation = exc if isinstance(exc, Violation) else host_failure(exc)
    if violation is not None:
        kind, text, exc_type = violation.kind, violation.message, None
        line = violation.line if violation.line is not None else getattr(exc, LINE_ATTR, None)
    else:
        kind, exc_type = "runtime", type(exc).__name__
        text, line = f"{exc_type}: {exception_text(exc, 50 * _MESSAGE_CHARS)}", getattr(exc, LINE_ATTR, None)
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS] + "…"
    return {"kind": kind, "message": f"line {line}: {text}" if line else text, "line": line, "exc_type": exc_type}

