"""The builtins a program may call, and guarded versions of the methods that can allocate a lot.

Plain C builtins are offered as they are where they are harmless (``len``, ``abs``, ``any``). The
rest are wrapped: ``zip``/``map``/``filter``/``enumerate``/``reversed`` return lists (a chain of a
million lazy C iterators segfaults CPython), callbacks given to ``sorted``/``min``/``max``/
``list.sort`` go back through the interpreter, and text-building calls check sizes first.
"""

from __future__ import annotations

import builtins
import operator
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .callables import Builtin, LazyGenerator, SandboxIterator
from .errors import Forbidden, SizeLimit
from .modules import CONTAINERS
from .modules import method_guards as module_method_guards
from .policy import EXCEPTIONS, TYPES
from .sizes import check_format_spec, check_text

if TYPE_CHECKING:
    from .interpreter import Interpreter

_TRUNCATED = "\n[stdout truncated]\n"
_FUNCTIONS = (
    "len", "abs", "any", "all", "next", "iter", "min", "max", "sum", "sorted", "reversed", "enumerate", "zip",
    "map", "filter", "round", "isinstance", "print", "repr",
)
_BORROWING = frozenset({"min", "max", "next"})  # they return a value the program already holds
BUILTIN_NAMES = frozenset(TYPES) | frozenset(EXCEPTIONS) | frozenset(_FUNCTIONS)


class Stdout:
    """Captured ``print`` output; keeps the first ``limit`` characters and marks the cut."""

    def __init__(self, limit: int) -> None:
        self._parts: list[str] = []
        self._room = limit
        self._truncated = False

    def write(self, text: str) -> None:
        if len(text) > self._room:
            text, self._truncated = text[: self._room], True
        self._room -= len(text)
        if text:
            self._parts.append(text)

    def getvalue(self) -> str:
        return "".join(self._parts) + (_TRUNCATED if self._truncated else "")


class _Formatter(string.Formatter):
    """``str.format`` without attribute lookups (``"{0.__class__}"``) and with bounded output."""

    def __init__(self, cap: int) -> None:
        self._cap, self._total = cap, 0

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if "." in field_name:
            raise Forbidden("attribute lookups in format strings are not allowed")
        return super().get_field(field_name, args, kwargs)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            check_text(value, self._cap)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        check_format_spec(format_spec, self._cap)
        check_text(value, self._cap)
        text = format(value, format_spec)
        self._total += len(text)
        if self._total > self._cap:
            raise SizeLimit(f"the formatted string would exceed {self._cap} characters")
        return text


class SandboxBuiltins:
    """Name table, type guards and method guards of one interpreter."""

    def __init__(self, interp: Interpreter) -> None:
        self._interp = interp
        self._cap = interp.limits.max_size
        self.names: dict[str, Any] = {
            **TYPES, **EXCEPTIONS,
            # the guard below where there is one, else the C builtin (len, abs, any, all, next)
            **{name: Builtin(name, getattr(self, f"_{name}", None) or getattr(builtins, name), name in _BORROWING)
               for name in _FUNCTIONS},
        }
        self.type_guards: dict[type, Callable[..., Any]] = {str: self._str, range: self._range}
        self.method_guards: dict[tuple[type, str], Callable[..., Any]] = {
            (str, "format"): self.str_format, (str, "join"): self.str_join,
            (str, "replace"): self.str_replace, (list, "sort"): self.list_sort, (list, "index"): self.list_index,
            **{(str, name): self._padding(name) for name in ("ljust", "rjust", "center", "zfill")},
            **module_method_guards(interp),
        }
        self._classes = frozenset(c for c in self.names.values() if isinstance(c, type)) | frozenset(CONTAINERS)

    # -- helpers -----------------------------------------------------------------------------
    def _callback(self, fn: Any) -> Any:
        """Route a callable that C code will call (a sort key) back through the interpreter."""
        if fn is None:
            return None
        return lambda *args: self._interp.call_value(fn, list(args), {})

    def text(self, value: Any) -> str:
        check_text(value, self._cap)
        return value if type(value) is str else str(value)

    # -- functions ---------------------------------------------------------------------------
    def _str(self, *args: Any, **kwargs: Any) -> str:
        if len(args) == 1 and not kwargs:
            return self.text(args[0])
        return str(*args, **kwargs)

    def _repr(self, value: Any, /) -> str:
        check_text(value, self._cap)  # a string's repr is charged as the new string it is
        return repr(value)

    def _range(self, *args: Any) -> range:
        r = range(*args)
        try:
            n = len(r)
        except OverflowError:
            n = self._cap + 1
        if n > self._cap:
            raise SizeLimit(f"a range of {n} elements exceeds the size limit of {self._cap}")
        return r

    def _min(self, *args: Any, key: Any = None, **kwargs: Any) -> Any:
        return min(*args, key=self._callback(key), **kwargs)

    def _max(self, *args: Any, key: Any = None, **kwargs: Any) -> Any:
        return max(*args, key=self._callback(key), **kwargs)

    def _sorted(self, iterable: Iterable[Any], /, *, key: Any = None, reverse: bool = False) -> list[Any]:
        return sorted(iterable, key=self._callback(key), reverse=reverse)

    def _sum(self, iterable: Iterable[Any], /, start: Any = 0) -> Any:
        if not isinstance(start, (int, float)):
            raise TypeError("sum() only adds numbers in the sandbox; use ''.join or list concatenation")
        return sum(iterable, start)

    def _zip(self, *iterables: Iterable[Any], strict: bool = False) -> list[tuple[Any, ...]]:
        return list(zip(*iterables, strict=strict))

    def _enumerate(self, iterable: Iterable[Any], start: int = 0) -> list[tuple[int, Any]]:
        return list(enumerate(iterable, start))

    def _iter(self, iterable: Any, /) -> SandboxIterator:
        if isinstance(iterable, (SandboxIterator, LazyGenerator)):
            return iterable
        return SandboxIterator(iter(iterable), type(iterable).__name__)

    def _reversed(self, sequence: Any) -> list[Any]:
        return list(reversed(sequence))

    def _map(self, fn: Any, *iterables: Iterable[Any]) -> list[Any]:
        if not iterables:
            raise TypeError("map() must have at least two arguments.")
        return [self._interp.call_value(fn, list(args), {}) for args in zip(*iterables)]

    def _filter(self, fn: Any, iterable: Iterable[Any]) -> list[Any]:
        if fn is None:
            return [item for item in iterable if item]
        return [item for item in iterable if self._interp.call_value(fn, [item], {})]

    def _round(self, number: Any, ndigits: Any = None) -> Any:
        if isinstance(ndigits, int) and abs(ndigits) > self._interp.limits.max_int_bits:
            raise SizeLimit(f"round() to {ndigits} digits is outside the limits")
        return round(number) if ndigits is None else round(number, ndigits)

    def _isinstance(self, obj: Any, classinfo: Any) -> bool:
        classes = classinfo if type(classinfo) is tuple else (classinfo,)
        if not all(isinstance(c, type) and c in self._classes for c in classes):
            raise Forbidden("isinstance() accepts only the sandbox's own types, alone or in a flat tuple")
        return isinstance(obj, classes)

    def _print(self, *args: Any, sep: Any = " ", end: Any = "\n", flush: bool = False) -> None:
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        if not isinstance(sep, str) or not isinstance(end, str):
            raise TypeError("print() sep and end must be strings")
        if len(sep) * len(args) + len(end) > self._cap:
            raise SizeLimit(f"the printed line would exceed {self._cap} characters")
        texts = [self.text(a) for a in args]
        if sum(map(len, texts)) > self._cap:
            raise SizeLimit(f"the printed line would exceed {self._cap} characters")
        line = sep.join(texts) + end
        self._interp.charge(len(line), "a printed line")
        self._interp.stdout.write(line)

    # -- method guards: called as guard(receiver, *args) -------------------------------------
    def _padding(self, name: str) -> Callable[..., str]:
        method = getattr(str, name)

        def pad(s: str, width: Any, *rest: Any) -> str:
            if operator.index(width) > self._cap:
                raise SizeLimit(f"str.{name}({width}) exceeds the size limit of {self._cap}")
            return method(s, width, *rest)

        return pad

    def str_format(self, template: str, /, *args: Any, **kwargs: Any) -> str:
        return _Formatter(self._cap).vformat(template, args, kwargs)

    def str_join(self, sep: str, iterable: Iterable[Any], /) -> str:
        items = list(iterable)
        size = sum(len(x) for x in items if isinstance(x, str)) + len(sep) * max(len(items) - 1, 0)
        if size > self._cap:
            raise SizeLimit(f"the joined string would exceed {self._cap} characters")
        return sep.join(items)

    def str_replace(self, s: str, old: Any, new: Any, count: Any = -1, /) -> str:
        if isinstance(old, str) and isinstance(new, str) and isinstance(count, int):
            hits = len(s) + 1 if old == "" else s.count(old)
            if count >= 0:
                hits = min(hits, count)
            if len(s) + hits * (len(new) - len(old)) > self._cap:
                raise SizeLimit(f"the replaced string would exceed {self._cap} characters")
        return s.replace(old, new, count)

    def list_index(self, lst: list[Any], value: Any, /, *args: Any) -> int:
        check_text(value, self._cap)  # a miss puts repr(value) into the ValueError, in C
        return lst.index(value, *args)

    def list_sort(self, lst: list[Any], /, *, key: Any = None, reverse: bool = False) -> None:
        lst.sort(key=self._callback(key), reverse=reverse)
