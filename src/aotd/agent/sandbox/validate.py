"""Static checks on the parsed program, before any of it runs.

Everything that can be decided from the text is rejected here with its line: unsupported nodes,
``_``-attributes, dunder names, rebinding a tool or builtin, and using a Python builtin the sandbox
does not offer. The interpreter re-checks attributes and names at run time anyway.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from .errors import Forbidden, SizeLimit, SyntaxViolation
from .limits import MAX_NESTING, Limits
from .modules import OFFERED, offered_attributes
from .policy import PYTHON_BUILTINS

_STATEMENTS = (
    ast.FunctionDef, ast.Return, ast.Delete, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For,
    ast.While, ast.If, ast.Raise, ast.Try, ast.Assert, ast.Expr, ast.Pass, ast.Break, ast.Continue,
    ast.Import, ast.ImportFrom,  # of the offered modules only (``_check_import``)
)
_EXPRESSIONS = (
    ast.BoolOp, ast.NamedExpr, ast.BinOp, ast.UnaryOp, ast.Lambda, ast.IfExp, ast.Dict, ast.Set,
    ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Compare, ast.Call,
    ast.FormattedValue, ast.JoinedStr, ast.Constant, ast.Attribute, ast.Subscript, ast.Starred,
    ast.Name, ast.List, ast.Tuple, ast.Slice,
)
_OTHER = (
    ast.Module, ast.alias, ast.arguments, ast.arg, ast.keyword, ast.comprehension, ast.ExceptHandler,
    ast.Load, ast.Store, ast.Del, ast.And, ast.Or, ast.Not, ast.Invert, ast.UAdd, ast.USub,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift,
    ast.BitOr, ast.BitXor, ast.BitAnd,
)
ALLOWED_NODES = frozenset(_STATEMENTS + _EXPRESSIONS + _OTHER)

_TOP_LEVEL = (ast.FunctionDef, ast.Assign, ast.AnnAssign, ast.Pass, ast.Import, ast.ImportFrom)

_REASONS = {
    ast.Global: "'global' is not supported in tool programs",
    ast.Nonlocal: "'nonlocal' is not supported in tool programs",
    ast.ClassDef: "classes are not supported in tool programs; use functions, dicts and tuples",
    ast.Yield: "generators (yield) are not supported in tool programs; build a list",
    ast.YieldFrom: "generators (yield) are not supported in tool programs; build a list",
    ast.Await: "async code is not supported in tool programs",
    ast.AsyncFunctionDef: "async code is not supported in tool programs",
    ast.AsyncFor: "async code is not supported in tool programs",
    ast.AsyncWith: "async code is not supported in tool programs",
    ast.With: "'with' is not supported in tool programs",
    ast.Match: "'match' statements are not supported in tool programs; use if/elif",
    ast.MatMult: "the @ operator is not supported in tool programs",
}

_SKIPPED_FIELDS = frozenset({"annotation", "returns", "type_comment"})  # annotations never run


def parse_program(source: str, limits: Limits, *, offered: frozenset[str], tools: frozenset[str]) -> ast.Module:
    """Parse and check ``source``; ``offered`` are the builtin names the interpreter provides."""
    if len(source) > limits.max_source:
        raise SizeLimit(f"the program has {len(source)} characters; the limit is {limits.max_source}")
    try:
        tree = ast.parse(source, filename="<program>", mode="exec")
    except SyntaxError as exc:
        raise SyntaxViolation(f"{exc.msg}", exc.lineno) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise SyntaxViolation(f"the program cannot be parsed: {exc}") from None
    _check(tree, offered, tools)
    return tree


def _children(node: ast.AST, in_loop: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Child nodes, each with whether a ``break`` there would be inside a loop of the same function."""
    for field, value in ast.iter_fields(node):
        if field in _SKIPPED_FIELDS:
            continue
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            loop = False
        elif isinstance(node, (ast.For, ast.While)) and field == "body":
            loop = True
        else:
            loop = in_loop
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                yield child, loop


def _bound_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return node.id
    if isinstance(node, (ast.FunctionDef, ast.ExceptHandler)):
        return node.name
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.alias):
        return node.asname or node.name
    return None


def _check(tree: ast.Module, offered: frozenset[str], tools: frozenset[str]) -> None:
    bound: set[str] = set()
    loads: list[tuple[str, int]] = []
    stack: list[tuple[ast.AST, int, bool, int]] = [(tree, 0, False, 1)]
    while stack:
        node, depth, in_loop, line = stack.pop()
        line = getattr(node, "lineno", line)
        if type(node) not in ALLOWED_NODES:
            reason = _REASONS.get(type(node), f"'{type(node).__name__}' is not supported in the sandbox")
            raise Forbidden(reason, line)
        if depth > MAX_NESTING:
            raise SizeLimit(f"the program nests deeper than {MAX_NESTING} levels", line)
        _check_node(node, in_loop, line)
        name = _bound_name(node)
        if name is not None:
            if name.startswith("__"):
                raise Forbidden(f"the name '{name}' is forbidden", line)
            if name in tools or name in offered:
                what = "a tool" if name in tools else "a builtin"
                raise Forbidden(f"'{name}' is {what} and cannot be reassigned", line)
            bound.add(name)
        elif isinstance(node, ast.Name):
            if node.id.startswith("__"):
                raise Forbidden(f"the name '{node.id}' is forbidden", line)
            loads.append((node.id, line))
        stack.extend((child, depth + 1, loop, line) for child, loop in _children(node, in_loop))
    for stmt in tree.body:
        if not isinstance(stmt, _TOP_LEVEL) and not (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        ):
            raise Forbidden("only function definitions and assignments may appear at the top level", stmt.lineno)
    for name, line in sorted(loads, key=lambda item: item[1]):
        if name in PYTHON_BUILTINS and name not in offered and name not in bound and name not in tools:
            raise Forbidden(f"'{name}' is not available in the sandbox", line)


def _check_import(node: ast.Import | ast.ImportFrom, line: int) -> None:
    """Only the offered modules (``modules.OFFERED``), and from them only their allowlisted names."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if offered_attributes(alias.name) is None:
                raise Forbidden(f"importing '{alias.name}' is not supported in tool programs; the modules offered "
                                f"are {', '.join(OFFERED)}", line)
        return
    names = offered_attributes(node.module or "") if not node.level else None
    if names is None:
        module = "." * node.level + (node.module or "")
        raise Forbidden(f"importing from '{module}' is not supported in tool programs; the modules offered are "
                        f"{', '.join(OFFERED)}", line)
    for alias in node.names:
        if alias.name not in names:
            raise Forbidden(f"'{node.module}.{alias.name}' is not offered in tool programs", line)


def _check_node(node: ast.AST, in_loop: bool, line: int) -> None:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        _check_import(node, line)
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        raise Forbidden(f"the attribute '{node.attr}' is forbidden", line)
    if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
        raise Forbidden("assigning to or deleting attributes is not allowed", line)
    if isinstance(node, ast.FunctionDef) and node.decorator_list:
        raise Forbidden("decorators are not allowed", line)
    if isinstance(node, ast.comprehension) and node.is_async:
        raise Forbidden("async code is not supported", line)
    if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
        raise Forbidden("bytes literals are not supported", line)
    if isinstance(node, (ast.Break, ast.Continue)) and not in_loop:
        raise SyntaxViolation(f"'{type(node).__name__.lower()}' outside loop", line)
