"""What a program holds when it names a builtin or reads a method: callables with Python's own
reprs, never a host object's.

A wrapped builtin is a bound method of the host's ``SandboxBuiltins`` and a method read from a
value is a C bound method: their reprs name a host class and a heap address, which a program
could print into its trace and from there into CoTs and training data. These wrappers show what
plain Python shows, less the address (``<built-in function print>``, ``<built-in method append
of list object>``), and cannot be pickled out of the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .errors import RecursionLimit


class Opaque:
    """Something the sandbox made for a program (a builtin, a method, an iterator, a module, a
    tool handle, the program's own function): a returned or traced one is shown as its repr,
    and none can be pickled out of the sandbox (as a tool argument, say)."""

    __slots__ = ()

    def to_json(self) -> str:
        return repr(self)

    def __reduce__(self) -> Any:
        raise TypeError(f"{self!r} cannot leave the sandbox")


class Builtin(Opaque):
    """An offered builtin function; ``borrows``: it returns a value the program already holds
    (``min``, ``max``, ``next``), which must not be charged again as a new one."""

    __slots__ = ("borrows", "fn", "name")

    def __init__(self, name: str, fn: Callable[..., Any], borrows: bool = False) -> None:
        self.name, self.fn, self.borrows = name, fn, borrows

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<built-in function {self.name}>"


class Method(Opaque):
    """A method read from a value: ``call`` is the bound method, or its guard bound to ``receiver``."""

    __slots__ = ("call", "name", "receiver")

    def __init__(self, name: str, receiver: Any, call: Callable[..., Any]) -> None:
        self.name, self.receiver, self.call = name, receiver, call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<built-in method {self.name} of {type(self.receiver).__name__} object>"


class SandboxIterator(Opaque):
    """What ``iter(x)`` returns: C's iterators show their address in their repr."""

    __slots__ = ("_items", "_kind")

    def __init__(self, items: Iterator[Any], kind: str) -> None:
        self._items, self._kind = items, kind

    def __iter__(self) -> SandboxIterator:
        return self

    def __next__(self) -> Any:
        return next(self._items)

    def __repr__(self) -> str:
        return f"<{self._kind}_iterator>"


class LazyGenerator(Opaque):
    """A generator expression of the program: an opaque iterator.

    Each step counts as a call against ``max_depth``: resuming a generator that pulls from another
    generator recurses in C, and a chain of 100,000 generator expressions segfaults CPython.
    """

    __slots__ = ("_interp", "_steps")

    def __init__(self, interp: Any, steps: Iterator[Any]) -> None:
        self._interp, self._steps = interp, steps

    def __iter__(self) -> LazyGenerator:
        return self

    def __next__(self) -> Any:
        interp = self._interp
        if interp.depth >= interp.limits.max_depth:
            raise RecursionLimit(f"generator expressions nested deeper than {interp.limits.max_depth} levels")
        interp.depth += 1
        try:
            return next(self._steps)
        finally:
            interp.depth -= 1

    def __repr__(self) -> str:
        return "<generator>"
