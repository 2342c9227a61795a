"""Size checks that must run before Python builds a value, not after.

``str(x)``, ``"%s" % x`` and format widths can each ask CPython for gigabytes in one C call; by
the time the result exists the host is already out of memory, so these estimate first.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, KeysView, ValuesView
from typing import Any

from .errors import Forbidden, SizeLimit

_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def text_size(value: Any, cap: int) -> int:
    """Roughly ``len(str(value))``, counted without building it; stops as soon as it passes ``cap``.

    A list holding the same million-character string a million times is small in memory but its
    ``str()`` is a terabyte. Every element adds at least two, so the walk ends after ~cap/2 steps.
    Exceptions and dict views are walked like containers; objects of other types (tool outputs,
    the sandbox's own function objects) are measured by their own ``repr``, once per object.
    """
    total = 0
    stack = [value]
    measured: dict[int, int] = {}
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, (float, complex)):
            total += 50
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (KeysView, ValuesView, ItemsView)):
            total += 16 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, BaseException):
            total += len(type(item).__name__) + 2
            stack.append(item.args)
        else:
            if id(item) not in measured:
                measured[id(item)] = len(repr(item))
            total += measured[id(item)]
    return total


def exception_text(exc: BaseException, cap: int) -> str:
    """``str(exc)``, unless its arguments would make that larger than ``cap`` characters."""
    if text_size(exc.args, cap) > cap:
        return "(message too large to show)"
    return str(exc)


def check_text(value: Any, cap: int) -> None:
    """Refuse to turn ``value`` into text longer than ``cap`` characters."""
    if type(value) is not str and text_size(value, cap) > cap:
        raise SizeLimit(f"the text of this {type(value).__name__} would exceed {cap} characters")


def _check_number(digits: str, cap: int) -> int:
    if len(digits) > len(str(cap)) or int(digits) > cap:
        raise SizeLimit(f"format width or precision {digits[:20]} exceeds the size limit of {cap}")
    return int(digits)


def check_format_spec(spec: str, cap: int) -> None:
    """Widths and precisions in a format spec (``{x:>99999999}``, ``{x:.99999999f}``) are bounded."""
    for digits in _DIGITS.findall(spec):
        _check_number(digits, cap)


def check_percent(template: str, args: Any, cap: int) -> None:
    """``template % args`` stays within ``cap`` characters."""
    widths = 0
    for match in _PERCENT_SPEC.finditer(template):
        for number in match.groups():
            if number == "*":
                raise Forbidden("'*' widths in %-formatting are not supported")
            if number:
                widths += _check_number(number, cap)
    if len(template) + widths + text_size(args, cap) > cap:
        raise SizeLimit(f"the formatted string would exceed {cap} characters")
