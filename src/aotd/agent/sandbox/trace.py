"""What a run leaves behind: the result, its error, and the trace of tool calls.

The trace is the raw material of the CoT step, so every tool call is kept with its arguments,
output, duration and program line, converted to bounded JSON-safe values.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from .errors import SizeLimit
from .sizes import exception_text

ErrorKind = Literal[
    "syntax", "no_entry", "forbidden", "runtime", "timeout", "memory", "op_limit", "size_limit",
    "recursion", "crashed",
]

TRACE_VALUE_BUDGET = 20_000  # characters/elements kept per traced argument or output
_MAX_JSON_DEPTH = 50


class SandboxErrorInfo(BaseModel):
    """Why a run failed. ``message`` starts with the program line when it is known."""

    kind: ErrorKind
    message: str
    line: int | None = None
    exc_type: str | None = None  # for ``runtime``: the exception's type name


class ToolCall(BaseModel):
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    output: Any = None
    error: str | None = None  # "Type: message" when the tool raised
    duration_s: float
    line: int | None = None


class SandboxResult(BaseModel):
    ok: bool
    value: Any = None  # the entry function's return value, JSON-safe
    error: SandboxErrorInfo | None = None
    calls: list[ToolCall] = []
    stdout: str = ""
    duration_s: float
    ops: int | None = None  # node evaluations; None when the worker was killed

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class _Budget:
    def __init__(self, size: int, strict: bool) -> None:
        self.left, self.strict, self.size = size, strict, size

    def spend(self, n: int) -> bool:
        """Take ``n``; False (or SizeLimit when strict) once the budget is gone."""
        self.left -= n
        if self.left >= 0:
            return True
        if self.strict:
            raise SizeLimit(f"the returned value is larger than {self.size} characters as JSON")
        return False


def jsonable(value: Any, budget: int, *, strict: bool) -> Any:
    """A JSON-safe copy of ``value`` of at most about ``budget`` characters and elements.

    ``strict`` (the program's return value) raises ``SizeLimit`` when it would be larger;
    otherwise (trace entries) the copy is truncated and marked with "…". Objects convert through
    ``to_json()``, then ``model_dump()``, then ``tolist()``; anything else becomes ``<TypeName>``.
    """
    return _convert(value, _Budget(budget, strict), 0)


def _convert(value: Any, budget: _Budget, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        budget.spend(1)
        return value
    if isinstance(value, int):
        budget.spend(value.bit_length() // 3 + 1)
        return int(value)
    if isinstance(value, float):
        budget.spend(8)
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        if budget.spend(len(value)):
            return str(value)
        keep = max(budget.left + len(value), 0)
        return f"{value[:keep]}…[+{len(value) - keep} chars]"
    if depth >= _MAX_JSON_DEPTH:
        if budget.strict:
            raise SizeLimit(f"the returned value nests deeper than {_MAX_JSON_DEPTH} levels")
        return "…"
    converter = _object_converter(value)
    if converter is not None:
        try:
            converted = converter()
        except Exception as exc:
            if budget.strict:
                raise
            return f"<{type(value).__name__}: {type(exc).__name__} in conversion>"
        return _convert(converted, budget, depth + 1)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not budget.spend(2):
                out["…"] = f"{len(value) - len(out)} more"
                break
            name = key if isinstance(key, str) else str(_convert(key, budget, depth + 1))
            out[name] = _convert(item, budget, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        items: list[Any] = []
        for item in value:
            if not budget.spend(1):
                items.append(f"… {len(value) - len(items)} more")
                break
            items.append(_convert(item, budget, depth + 1))
        return items
    budget.spend(len(type(value).__name__) + 2)
    return f"<{type(value).__name__}>"


def _object_converter(value: Any) -> Callable[[], Any] | None:
    cls = type(value)
    if callable(getattr(cls, "to_json", None)):
        return value.to_json
    if callable(getattr(cls, "model_dump", None)):
        return lambda: value.model_dump(mode="json")
    size = getattr(value, "size", None)
    if callable(getattr(cls, "tolist", None)) and isinstance(size, int) and size <= TRACE_VALUE_BUDGET:
        return value.tolist  # numpy arrays and scalars; large arrays fall through to <ndarray>
    return None


class ToolRecorder:
    """Calls the host's tools and records each call; ``run_program`` keeps it in the parent."""

    def __init__(self, tools: Mapping[str, Callable[..., Any]]) -> None:
        self._tools = dict(tools)
        self.calls: list[ToolCall] = []

    def __call__(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], line: int | None) -> Any:
        start = time.perf_counter()
        try:
            output = self._tools[name](*args, **kwargs)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exception_text(exc, 2000)}"[:2000]
            self._record(name, args, kwargs, line, start, None, error)
            raise
        self._record(name, args, kwargs, line, start, output, None)
        return output

    def _record(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], line: int | None,
                start: float, output: Any, error: str | None) -> None:
        duration = time.perf_counter() - start
        self.calls.append(ToolCall(
            name=name,
            args=[jsonable(a, TRACE_VALUE_BUDGET, strict=False) for a in args],
            kwargs={k: jsonable(v, TRACE_VALUE_BUDGET, strict=False) for k, v in kwargs.items()},
            output=None if error else jsonable(output, TRACE_VALUE_BUDGET, strict=False),
            error=error, duration_s=duration, line=line,
        ))
