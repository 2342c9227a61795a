"""The pure modules a program may import: ``math``, ``re``, ``itertools``, ``statistics``,
``collections``' containers and ``functools.reduce``, each an allowlist of attributes.

Planners write ``import math`` and ``from collections import Counter``; refusing them costs
programs for nothing, since none of these functions reaches the OS. What they can cost is size
and time, so the rules of the builtins hold here too: what C would make lazily or without a
bound is made as a list whose size is checked first (``itertools.product`` counts its output
before making it), and every callback (a ``groupby`` key, a ``reduce`` function, an ``re.sub``
replacement) goes back through the interpreter. ``re`` runs patterns in C: a catastrophically
backtracking pattern is stopped by the worker process's deadline (``run_program``), not by the
interpreter's operation budget, so ``run_in_process`` offers no protection against one.
"""

from __future__ import annotations

import collections
import itertools
import math
import re
import statistics
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .callables import Builtin, Opaque
from .errors import Forbidden, SizeLimit

if TYPE_CHECKING:
    from .interpreter import Interpreter

_MATH = (
    "pi", "e", "tau", "inf", "nan", "ceil", "floor", "trunc", "fabs", "sqrt", "isqrt", "exp", "expm1", "log",
    "log2", "log10", "log1p", "pow", "fmod", "modf", "copysign", "hypot", "dist", "atan2", "sin", "cos", "tan",
    "asin", "acos", "atan", "sinh", "cosh", "tanh", "degrees", "radians", "isclose", "isfinite", "isinf", "isnan",
    "fsum", "gcd",
)  # not factorial, comb, perm, prod, lcm: one call could build an integer of millions of digits
_STATISTICS = (
    "mean", "fmean", "median", "median_low", "median_high", "mode", "multimode", "stdev", "pstdev", "variance",
    "pvariance", "quantiles", "geometric_mean", "harmonic_mean", "StatisticsError",
)
_RE_FLAGS = ("IGNORECASE", "I", "MULTILINE", "M", "DOTALL", "S", "VERBOSE", "X", "ASCII", "A")
CONTAINERS = (collections.Counter, collections.defaultdict, collections.OrderedDict, collections.deque)
"""collections' containers: mutable, sized and item-assignable like list and dict."""

OFFERED = ("collections", "functools", "itertools", "math", "re", "statistics")


class SandboxModule(Opaque):
    """An imported module: only the allowlisted attributes, built for one interpreter."""

    __slots__ = ("_attributes", "name")

    def __init__(self, name: str, attributes: dict[str, Any]) -> None:
        self.name, self._attributes = name, attributes

    def attribute(self, name: str) -> Any:
        value = self._attributes.get(name, _MISSING)
        if value is _MISSING:
            raise Forbidden(f"'{self.name}.{name}' is not offered in tool programs")
        return value

    def __repr__(self) -> str:
        return f"<module '{self.name}'>"


_MISSING = object()


def offered_attributes(module: str) -> frozenset[str] | None:
    """The names ``from module import ...`` may take; None for a module that is not offered."""
    return _NAMES.get(module)


def load(module: str, interp: Interpreter) -> SandboxModule:
    """The module ``import module`` binds (``validate`` has already refused any other)."""
    if module not in _NAMES:
        raise Forbidden(f"importing '{module}' is not supported in tool programs; the modules offered are "
                        f"{', '.join(OFFERED)}")
    return SandboxModule(module, _Build(interp).module(module))


class _Build:
    """Builds one module's attributes, with the callbacks and size checks of ``interp``."""

    def __init__(self, interp: Interpreter) -> None:
        self.interp = interp
        self.cap = interp.limits.max_size

    def module(self, name: str) -> dict[str, Any]:
        return getattr(self, f"_{name}")()

    def _fn(self, name: str, fn: Callable[..., Any]) -> Builtin:
        return Builtin(name, fn)

    def _call(self, fn: Any) -> Callable[..., Any]:
        return lambda *args: self.interp.call_value(fn, list(args), {})

    def _take(self, iterable: Iterable[Any]) -> list[Any]:
        items = list(itertools.islice(iterable, self.cap + 1))
        if len(items) > self.cap:
            raise SizeLimit(f"an input of more than {self.cap} elements exceeds the size limit")
        return items

    def _room(self, n: int, what: str) -> None:
        if n > self.cap:
            raise SizeLimit(f"{what} would make {n} elements, past the size limit of {self.cap}")

    # -- the modules ---------------------------------------------------------------------------
    def _math(self) -> dict[str, Any]:
        return {name: value if isinstance(value, float) else self._fn(name, value)
                for name in _MATH for value in [getattr(math, name)]}

    def _statistics(self) -> dict[str, Any]:
        return {name: value if isinstance(value, type) else self._fn(name, value)
                for name in _STATISTICS for value in [getattr(statistics, name)]}

    def _functools(self) -> dict[str, Any]:
        def reduce(fn: Any, iterable: Iterable[Any], *initial: Any) -> Any:
            if len(initial) > 1:
                raise TypeError(f"reduce expected at most 3 arguments, got {2 + len(initial)}")
            call = self._call(fn)
            items = iter(iterable)
            if initial:
                value = initial[0]
            else:
                value = next(items, _MISSING)
                if value is _MISSING:
                    raise TypeError("reduce() of empty iterable with no initial value")
            for item in items:
                self.interp.tick_iteration()
                value = call(value, item)
            return value

        return {"reduce": self._fn("reduce", reduce)}

    def _collections(self) -> dict[str, Any]:
        return {cls.__name__: cls for cls in CONTAINERS}

    def _itertools(self) -> dict[str, Any]:
        take, room, call = self._take, self._room, self._call

        def chain(*iterables: Iterable[Any]) -> list[Any]:
            out: list[Any] = []
            for iterable in iterables:
                out += take(iterable)
                room(len(out), "chain()")
            return out

        def product(*iterables: Iterable[Any], repeat: int = 1) -> list[tuple[Any, ...]]:
            pools = [take(i) for i in iterables] * repeat
            room(math.prod(len(p) for p in pools) * max(len(pools), 1), "product()")
            return list(itertools.product(*pools))

        def permutations(iterable: Iterable[Any], r: int | None = None) -> list[tuple[Any, ...]]:
            pool = take(iterable)
            k = len(pool) if r is None else r
            room(math.perm(len(pool), k) * k if 0 <= k <= len(pool) else 0, "permutations()")
            return list(itertools.permutations(pool, r))

        def combinations(iterable: Iterable[Any], r: int) -> list[tuple[Any, ...]]:
            pool = take(iterable)
            room(math.comb(len(pool), r) * r if 0 <= r <= len(pool) else 0, "combinations()")
            return list(itertools.combinations(pool, r))

        def combinations_with_replacement(iterable: Iterable[Any], r: int) -> list[tuple[Any, ...]]:
            pool = take(iterable)
            room(math.comb(len(pool) + r - 1, r) * r if pool and r >= 0 else 0, "combinations_with_replacement()")
            return list(itertools.combinations_with_replacement(pool, r))

        def groupby(iterable: Iterable[Any], key: Any = None) -> list[tuple[Any, list[Any]]]:
            keyed = itertools.groupby(take(iterable), None if key is None else call(key))
            return [(k, list(group)) for k, group in keyed]

        def accumulate(iterable: Iterable[Any], func: Any = None, *, initial: Any = None) -> list[Any]:
            return list(itertools.accumulate(take(iterable), None if func is None else call(func), initial=initial))

        def islice(iterable: Iterable[Any], *args: Any) -> list[Any]:
            return take(itertools.islice(iterable, *args))

        def zip_longest(*iterables: Iterable[Any], fillvalue: Any = None) -> list[tuple[Any, ...]]:
            pools = [take(i) for i in iterables]
            room(max((len(p) for p in pools), default=0) * len(pools), "zip_longest()")
            return list(itertools.zip_longest(*pools, fillvalue=fillvalue))

        def pairwise(iterable: Iterable[Any]) -> list[tuple[Any, Any]]:
            return list(itertools.pairwise(take(iterable)))

        def starmap(fn: Any, iterable: Iterable[Any]) -> list[Any]:
            return [self.interp.call_value(fn, list(args), {}) for args in take(iterable)]

        def takewhile(predicate: Any, iterable: Iterable[Any]) -> list[Any]:
            return list(itertools.takewhile(call(predicate), take(iterable)))

        def dropwhile(predicate: Any, iterable: Iterable[Any]) -> list[Any]:
            return list(itertools.dropwhile(call(predicate), take(iterable)))

        def filterfalse(predicate: Any, iterable: Iterable[Any]) -> list[Any]:
            return list(itertools.filterfalse(None if predicate is None else call(predicate), take(iterable)))

        def compress(data: Iterable[Any], selectors: Iterable[Any]) -> list[Any]:
            return list(itertools.compress(take(data), take(selectors)))

        def repeat(value: Any, times: int) -> list[Any]:  # with no count it never ends: refused
            room(times, "repeat()")
            return [value] * max(times, 0)

        functions = (chain, product, permutations, combinations, combinations_with_replacement, groupby,
                     accumulate, islice, zip_longest, pairwise, starmap, takewhile, dropwhile, filterfalse,
                     compress, repeat)
        return {fn.__name__: self._fn(fn.__name__, fn) for fn in functions}

    def _re(self) -> dict[str, Any]:
        def compiled(pattern: Any, flags: int) -> re.Pattern[str]:
            if isinstance(pattern, re.Pattern):
                if flags:
                    raise ValueError("cannot process flags argument with a compiled pattern")
                return pattern
            return re.compile(pattern, flags)

        def search(pattern: Any, string: str, flags: int = 0) -> re.Match[str] | None:
            return compiled(pattern, flags).search(string)

        def match(pattern: Any, string: str, flags: int = 0) -> re.Match[str] | None:
            return compiled(pattern, flags).match(string)

        def fullmatch(pattern: Any, string: str, flags: int = 0) -> re.Match[str] | None:
            return compiled(pattern, flags).fullmatch(string)

        def findall(pattern: Any, string: str, flags: int = 0) -> list[Any]:
            return compiled(pattern, flags).findall(string)

        def split(pattern: Any, string: str, maxsplit: int = 0, flags: int = 0) -> list[str]:
            return compiled(pattern, flags).split(string, maxsplit)

        def sub(pattern: Any, repl: Any, string: str, count: int = 0, flags: int = 0) -> str:
            return self.sub(compiled(pattern, flags), repl, string, count)

        def subn(pattern: Any, repl: Any, string: str, count: int = 0, flags: int = 0) -> tuple[str, int]:
            return self.subn(compiled(pattern, flags), repl, string, count)

        def finditer(pattern: Any, string: str, flags: int = 0) -> list[re.Match[str]]:
            return list(compiled(pattern, flags).finditer(string))

        def compile(pattern: Any, flags: int = 0) -> re.Pattern[str]:  # noqa: A001 - re's own name
            return compiled(pattern, flags)

        functions = (search, match, fullmatch, findall, split, sub, subn, finditer, compile, re.escape)
        return {**{fn.__name__: self._fn(fn.__name__, fn) for fn in functions}, "error": re.error,
                **{name: getattr(re, name) for name in _RE_FLAGS}}

    # -- re.sub with its output bounded (also the guard of Pattern.sub) -------------------------
    def sub(self, pattern: re.Pattern[str], repl: Any, string: str, count: int = 0) -> str:
        return self.subn(pattern, repl, string, count)[0]

    def subn(self, pattern: re.Pattern[str], repl: Any, string: str, count: int = 0) -> tuple[str, int]:
        if isinstance(repl, str):
            hits = sum(1 for _ in itertools.islice(pattern.finditer(string), count or None))
            refs = repl.count("\\")  # each may copy a group: at most the whole string
            room = len(string) + hits * (len(repl) + refs * len(string))
            self._room(room, "re.sub()")
            return pattern.subn(repl, string, count)
        call, total = self._call(repl), [len(string)]

        def piece(match: re.Match[str]) -> str:
            text = call(match)
            if not isinstance(text, str):
                raise TypeError(f"expected str instance, {type(text).__name__} found")
            total[0] += len(text)
            self._room(total[0], "re.sub()")
            return text

        return pattern.subn(piece, string, count)


def method_guards(interp: Interpreter) -> dict[tuple[type, str], Callable[..., Any]]:
    """Guards of the module types' methods that could make something large: called as guard(receiver, *args)."""
    build = _Build(interp)

    def elements(counter: collections.Counter[Any]) -> list[Any]:
        build._room(sum(max(n, 0) for n in counter.values() if isinstance(n, int)), "Counter.elements()")
        return list(counter.elements())

    def finditer(pattern: re.Pattern[str], string: str, *args: Any) -> list[re.Match[str]]:
        return list(pattern.finditer(string, *args))

    return {(collections.Counter, "elements"): elements, (re.Pattern, "sub"): build.sub,
            (re.Pattern, "subn"): build.subn, (re.Pattern, "finditer"): finditer}


_NAMES: dict[str, frozenset[str]] = {
    "math": frozenset(_MATH), "statistics": frozenset(_STATISTICS), "functools": frozenset({"reduce"}),
    "collections": frozenset(cls.__name__ for cls in CONTAINERS),
    "itertools": frozenset({"chain", "product", "permutations", "combinations", "combinations_with_replacement",
                            "groupby", "accumulate", "islice", "zip_longest", "pairwise", "starmap", "takewhile",
                            "dropwhile", "filterfalse", "compress", "repeat"}),
    "re": frozenset({"search", "match", "fullmatch", "findall", "split", "sub", "subn", "finditer", "compile",
                     "escape", "error", *_RE_FLAGS}),
}
