"""What a program may name and which attributes it may read: allowlists, never denylists.

Host classes (tool outputs) opt in by listing public attribute names in a class attribute
``__sandbox_attributes__``; subclasses inherit the names of their bases. Names starting with ``_``
are never reachable, whatever a class lists.
"""

from __future__ import annotations

import builtins
import collections
import re

SANDBOX_ATTRIBUTES = "__sandbox_attributes__"

EXCEPTIONS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        Exception, ValueError, TypeError, KeyError, IndexError, LookupError, ZeroDivisionError,
        ArithmeticError, OverflowError, AttributeError, NameError, RuntimeError, AssertionError,
        NotImplementedError, StopIteration,
    )
}

_STR = frozenset({
    "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index", "isalnum",
    "isalpha", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper",
    "join", "ljust", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace",
    "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines",
    "startswith", "strip", "swapcase", "title", "upper", "zfill",
})
_SET_READ = frozenset({
    "copy", "difference", "intersection", "isdisjoint", "issubset", "issuperset",
    "symmetric_difference", "union",
})

ATTRIBUTES: dict[type, frozenset[str]] = {
    str: _STR,  # no format_map, encode, translate, expandtabs: format goes through a safe formatter
    list: frozenset({"append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove",
                     "reverse", "sort"}),
    dict: frozenset({"clear", "copy", "get", "items", "keys", "pop", "popitem", "setdefault", "update",
                     "values"}),
    set: _SET_READ | {"add", "clear", "difference_update", "discard", "intersection_update", "pop",
                      "remove", "symmetric_difference_update", "update"},
    frozenset: _SET_READ,
    tuple: frozenset({"count", "index"}),
    float: frozenset({"is_integer"}),
    BaseException: frozenset({"args"}),
    # the modules' types (``modules``); dict's subclasses also have dict's names
    collections.Counter: frozenset({"most_common", "total", "elements", "update", "subtract"}),
    collections.OrderedDict: frozenset({"move_to_end"}),
    collections.deque: frozenset({"append", "appendleft", "clear", "copy", "count", "extend", "extendleft", "index",
                                  "insert", "pop", "popleft", "remove", "reverse", "rotate", "maxlen"}),
    re.Pattern: frozenset({"search", "match", "fullmatch", "findall", "finditer", "split", "sub", "subn",
                           "pattern", "flags", "groups"}),
    re.Match: frozenset({"group", "groups", "groupdict", "start", "end", "span", "string", "pos", "endpos",
                         "lastindex", "lastgroup"}),
}

TYPES: dict[str, type] = {
    t.__name__: t for t in (bool, int, float, str, list, dict, set, tuple, range)
}

PYTHON_BUILTINS = frozenset(dir(builtins))
"""Names that mean something in plain Python; unless the sandbox offers them, using one is
reported as forbidden rather than as a NameError."""


_OWNERS: dict[type, dict[str, type]] = {}


def attribute_owners(cls: type) -> dict[str, type]:
    """Readable attribute name -> the class whose allowlist grants it, for instances of ``cls``."""
    owners = _OWNERS.get(cls)
    if owners is None:
        owners = {}
        for base in reversed(cls.__mro__):
            names = ATTRIBUTES.get(base) or base.__dict__.get(SANDBOX_ATTRIBUTES) or ()
            for name in names:
                if isinstance(name, str) and not name.startswith("_"):
                    owners[name] = base
        _OWNERS[cls] = owners
    return owners
