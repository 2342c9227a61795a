"""The AST-walking interpreter: runs a checked planner program node by node.

Values are ordinary Python objects, but the program reaches them only through this class: names
resolve to its own scopes, the host's tools (as ``ToolHandle``s) and the safe builtins; attributes
to per-type allowlists; every node evaluation counts against the operation budget; every operation
that can allocate a lot is checked before it runs, and every container it creates is charged.
Control flow (``return``/``break``/``continue``) travels as return values, not exceptions, so no
``try`` in the program can intercept it.
"""

from __future__ import annotations

import ast
import operator
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from inspect import Parameter, Signature
from itertools import islice
from math import log2
from types import BuiltinMethodType, MethodType
from typing import Any

from .builtins import SandboxBuiltins, Stdout
from .callables import Builtin, LazyGenerator, Method, Opaque, SandboxIterator
from .errors import (
    Forbidden,
    NoEntry,
    OpLimit,
    RecursionLimit,
    SizeLimit,
    SyntaxViolation,
    TimeLimit,
    host_failure,
    mark_line,
)
from .limits import MAX_TUPLE_DEPTH, Limits
from .modules import CONTAINERS, SandboxModule, load
from .policy import PYTHON_BUILTINS, attribute_owners
from .sizes import check_format_spec, check_percent, check_text

ToolCaller = Callable[[str, tuple[Any, ...], dict[str, Any], "int | None"], Any]

_MISSING = object()
_BREAK = object()
_CONTINUE = object()
# exact types (``type(x) in ...``: a hash lookup, on every call and operator)
_SIZED = frozenset({str, list, tuple, dict, set, frozenset, bytes, *CONTAINERS})
_SEQUENCES = frozenset({str, list, tuple, bytes, deque})
_MUTABLE = frozenset({list, dict, set, *CONTAINERS})
_ASSIGNABLE = frozenset({list, dict, *CONTAINERS})  # item assignment and deletion
_BORROWING_METHODS = frozenset({"get", "pop", "setdefault"})  # return values that already exist
_MEMO_LIMIT = 50_000
_BOUND = frozenset({BuiltinMethodType, MethodType})
_OPAQUE = {Builtin: "builtin_function_or_method", Method: "builtin_function_or_method",  # the sandbox's own
           SandboxIterator: "iterator", LazyGenerator: "generator"}  # callables and iterators: no attributes

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.BitOr: operator.or_,
    ast.BitXor: operator.xor, ast.BitAnd: operator.and_,
}
_INPLACE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.iadd, ast.Sub: operator.isub, ast.Mult: operator.imul, ast.Div: operator.itruediv,
    ast.FloorDiv: operator.ifloordiv, ast.Mod: operator.imod, ast.Pow: operator.ipow,
    ast.LShift: operator.ilshift, ast.RShift: operator.irshift, ast.BitOr: operator.ior,
    ast.BitXor: operator.ixor, ast.BitAnd: operator.iand,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}


def _escalate(exc: Exception) -> None:
    """Turn the host running out of stack or memory into a violation, which no ``except`` catches."""
    failure = host_failure(exc)
    if failure is not None:
        raise failure from None


class Scope:
    """One function call's (or the module's, or a comprehension's) variables."""

    __slots__ = ("parent", "vars")

    def __init__(self, variables: dict[str, Any], parent: Scope | None) -> None:
        self.vars = variables
        self.parent = parent


class SandboxFunction(Opaque):
    """A ``def`` or ``lambda`` of the program: callable from host code, opaque to the program."""

    __slots__ = ("closure", "interp", "name", "node", "plain", "signature")

    def __init__(self, name: str, node: ast.FunctionDef | ast.Lambda, signature: Signature,
                 closure: Scope, interp: Interpreter) -> None:
        self.name, self.node, self.signature, self.closure, self.interp = name, node, signature, closure, interp
        params = list(signature.parameters.values())
        # The parameter names when all are plain positional-or-keyword: such calls bind without inspect.
        plain = all(p.kind is Parameter.POSITIONAL_OR_KEYWORD for p in params)
        self.plain = tuple(p.name for p in params) if plain else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.interp.invoke(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<function {self.name}>"

    def __reduce__(self) -> Any:
        raise TypeError(f"the program's function {self.name}() cannot leave the sandbox")


class ToolHandle(Opaque):
    """What a tool name evaluates to: the host callable itself never reaches the program."""

    __slots__ = ("interp", "name")

    def __init__(self, name: str, interp: Interpreter) -> None:
        self.name, self.interp = name, interp

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.interp.call_tool(self.name, args, kwargs, self.interp.line)

    def __repr__(self) -> str:
        return f"<tool {self.name}>"

    def __reduce__(self) -> Any:
        raise TypeError(f"the tool {self.name} cannot be passed as data")


class _Return:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Interpreter:
    """Evaluates one program under ``limits``; tool calls go to ``call_tool(name, args, kwargs, line)``."""

    def __init__(self, *, limits: Limits, tool_names: Iterable[str], call_tool: ToolCaller,
                 deadline: float) -> None:
        self.limits = limits
        self.ops = self.iterations = self.alloc = self.depth = self.tool_calls = 0
        self.line: int | None = None
        self.stdout = Stdout(limits.max_stdout)
        self._deadline = deadline
        self._max_ops = limits.max_ops
        self._call_tool = call_tool
        self._tools = {name: ToolHandle(name, self) for name in tool_names}
        builtins = SandboxBuiltins(self)
        self._names = {**builtins.names, **self._tools}
        self._type_guards = builtins.type_guards
        self._method_guards = builtins.method_guards
        self._handling: list[BaseException] = []  # exceptions in except blocks, for a bare `raise`
        self._tuple_depths: dict[int, tuple[tuple[Any, ...], int]] = {}
        self._statements: dict[type, Callable[[Any, Scope], Any]] = {
            ast.Expr: self._s_expr, ast.Assign: self._s_assign, ast.AugAssign: self._s_augassign,
            ast.AnnAssign: self._s_annassign, ast.If: self._s_if, ast.For: self._s_for,
            ast.While: self._s_while, ast.Return: self._s_return, ast.Break: lambda n, s: _BREAK,
            ast.Continue: lambda n, s: _CONTINUE, ast.Pass: lambda n, s: None,
            ast.FunctionDef: self._s_def, ast.Delete: self._s_delete, ast.Assert: self._s_assert,
            ast.Raise: self._s_raise, ast.Try: self._s_try, ast.Import: self._s_import,
            ast.ImportFrom: self._s_importfrom,
        }
        self._expressions: dict[type, Callable[[Any, Scope], Any]] = {
            ast.Constant: lambda n, s: n.value, ast.Name: self._e_name, ast.Attribute: self._e_attribute,
            ast.Subscript: self._e_subscript, ast.Slice: self._e_slice, ast.Call: self._e_call,
            ast.BinOp: self._e_binop, ast.UnaryOp: self._e_unaryop, ast.BoolOp: self._e_boolop,
            ast.Compare: self._e_compare, ast.IfExp: self._e_ifexp, ast.List: self._e_list,
            ast.Tuple: self._e_tuple, ast.Set: self._e_set, ast.Dict: self._e_dict,
            ast.ListComp: self._e_listcomp, ast.SetComp: self._e_setcomp, ast.DictComp: self._e_dictcomp,
            ast.GeneratorExp: self._e_genexp, ast.Lambda: self._e_lambda, ast.JoinedStr: self._e_joinedstr,
            ast.FormattedValue: self._e_formatted, ast.NamedExpr: self._e_namedexpr,
            ast.Starred: self._e_starred,
        }

    # -- entry points --------------------------------------------------------------------------
    def load(self, tree: ast.Module) -> Scope:
        """Run the top level (definitions and assignments) and return the module scope."""
        module = Scope({}, None)
        self._exec_block(tree.body, module)
        return module

    def run_entry(self, module: Scope, entry: str, inputs: Mapping[str, Any]) -> Any:
        fn = module.vars.get(entry)
        if type(fn) is not SandboxFunction:
            raise NoEntry(f"the program defines no function '{entry}'")
        return self.invoke(fn, (), dict(inputs))

    # -- budgets -------------------------------------------------------------------------------
    def _check_budget(self) -> None:
        """Called on every 256th operation and once past the operation limit (see ``eval``)."""
        if self.ops > self._max_ops:
            raise OpLimit(f"the program ran more than {self._max_ops} operations")
        if time.monotonic() > self._deadline:
            raise TimeLimit(f"the program ran longer than {self.limits.timeout_s:g} s")

    def tick_iteration(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.max_iterations:
            raise OpLimit(f"the program ran more than {self.limits.max_iterations} loop iterations")

    def charge(self, size: int, what: str) -> None:
        if size > self.limits.max_size:
            raise SizeLimit(f"{what} of size {size} exceeds the size limit of {self.limits.max_size}")
        self.alloc += size
        if self.alloc > self.limits.max_alloc:
            raise SizeLimit(f"the program created more than {self.limits.max_alloc} elements and characters in all")

    def _new(self, value: Any, repeats: Any = None) -> Any:
        """Charge a freshly created string or container; check the tuples it holds directly.
        ``repeats``: the sequence that ``value`` (``seq * n``) repeats, whose items are the only
        ones to check (walking a list of 10**7 repeats in Python took half a second)."""
        self.charge(len(value), f"a {type(value).__name__}")
        if repeats is not None and type(repeats) is type(value):
            value = repeats
        if isinstance(value, tuple):
            self._guard_tuple(value)
        elif isinstance(value, (list, set, frozenset)):
            for item in value:
                if type(item) is tuple:
                    self._guard_tuple(item)
        elif isinstance(value, dict):
            for key in value:
                if type(key) is tuple:
                    self._guard_tuple(key)
        return value

    def _guard_tuple(self, value: Any) -> Any:
        """Refuse tuples nested deeper than MAX_TUPLE_DEPTH (see there); depths are memoised."""
        if isinstance(value, tuple):
            self._tuple_depth(value, 0)
        return value

    def _tuple_depth(self, value: tuple[Any, ...], level: int) -> int:
        known = self._tuple_depths.get(id(value))
        if known is not None and known[0] is value:
            depth = known[1]
        else:
            if level >= MAX_TUPLE_DEPTH:
                raise SizeLimit(f"tuples nested deeper than {MAX_TUPLE_DEPTH} levels")
            depth = 1
            for item in value:
                if isinstance(item, tuple):
                    depth = max(depth, 1 + self._tuple_depth(item, level + 1))
            if depth > 1 or len(value) > 8:
                if len(self._tuple_depths) >= _MEMO_LIMIT:
                    self._tuple_depths.clear()
                self._tuple_depths[id(value)] = (value, depth)
        if level + depth > MAX_TUPLE_DEPTH:
            raise SizeLimit(f"tuples nested deeper than {MAX_TUPLE_DEPTH} levels")
        return depth

    # -- statements ----------------------------------------------------------------------------
    def _exec_block(self, body: list[ast.stmt], scope: Scope) -> Any:
        """Run statements until one signals return/break/continue (one Python frame per level)."""
        for node in body:
            self.ops = ops = self.ops + 1
            if ops > self._max_ops or not ops & 255:
                self._check_budget()
            self.line = node.lineno
            try:
                signal = self._statements[type(node)](node, scope)
            except BaseException as exc:
                mark_line(exc, node.lineno)
                raise
            if signal is not None:
                return signal
        return None

    def _s_expr(self, node: ast.Expr, scope: Scope) -> None:
        self.eval(node.value, scope)

    def _s_assign(self, node: ast.Assign, scope: Scope) -> None:
        value = self.eval(node.value, scope)
        for target in node.targets:
            self._bind(target, value, scope)

    def _s_annassign(self, node: ast.AnnAssign, scope: Scope) -> None:
        if node.value is not None:
            self._bind(node.target, self.eval(node.value, scope), scope)

    def _s_augassign(self, node: ast.AugAssign, scope: Scope) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            current = self._lookup(target.id, scope)
            scope.vars[target.id] = self._binop(node.op, current, self.eval(node.value, scope), inplace=True)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value, scope)
            key = self.eval(target.slice, scope)
            value = self._binop(node.op, container[key], self.eval(node.value, scope), inplace=True)
            self._store_item(container, key, value)
        else:
            raise Forbidden(f"cannot assign to {type(target).__name__}")

    def _s_if(self, node: ast.If, scope: Scope) -> Any:
        return self._exec_block(node.body if self.eval(node.test, scope) else node.orelse, scope)

    def _s_for(self, node: ast.For, scope: Scope) -> Any:
        def steps() -> Iterator[None]:
            for item in self.eval(node.iter, scope):
                self._bind(node.target, self._guard_tuple(item), scope)
                yield None

        return self._loop(steps(), node, scope)

    def _s_while(self, node: ast.While, scope: Scope) -> Any:
        def steps() -> Iterator[None]:
            while self.eval(node.test, scope):
                yield None

        return self._loop(steps(), node, scope)

    def _loop(self, steps: Iterator[None], node: ast.For | ast.While, scope: Scope) -> Any:
        """Run the body once per step; break skips ``else``, a return signal leaves the loop."""
        for _ in steps:
            self.tick_iteration()
            signal = self._exec_block(node.body, scope)
            if signal is _BREAK:
                return None
            if signal is not None and signal is not _CONTINUE:
                return signal
        return self._exec_block(node.orelse, scope)

    def _s_return(self, node: ast.Return, scope: Scope) -> _Return:
        return _Return(None if node.value is None else self.eval(node.value, scope))

    def _s_def(self, node: ast.FunctionDef, scope: Scope) -> None:
        scope.vars[node.name] = self._function(node, node.name, scope)

    def _s_delete(self, node: ast.Delete, scope: Scope) -> None:
        for target in node.targets:
            self._delete(target, scope)

    def _delete(self, target: ast.expr, scope: Scope) -> None:
        if isinstance(target, ast.Name):
            if target.id not in scope.vars:
                raise NameError(f"name '{target.id}' is not defined")
            del scope.vars[target.id]
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._delete(element, scope)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value, scope)
            if type(container) not in _ASSIGNABLE:
                raise Forbidden(f"deleting items is only allowed on lists and dicts, not {type(container).__name__}")
            del container[self.eval(target.slice, scope)]
        else:
            raise Forbidden(f"cannot delete {type(target).__name__}")

    def _s_import(self, node: ast.Import, scope: Scope) -> None:
        for alias in node.names:
            scope.vars[alias.asname or alias.name] = load(alias.name, self)

    def _s_importfrom(self, node: ast.ImportFrom, scope: Scope) -> None:
        module = load(node.module or "", self)
        for alias in node.names:
            scope.vars[alias.asname or alias.name] = module.attribute(alias.name)

    def _s_assert(self, node: ast.Assert, scope: Scope) -> None:
        if not self.eval(node.test, scope):
            raise AssertionError(*(() if node.msg is None else (self.eval(node.msg, scope),)))

    def _s_raise(self, node: ast.Raise, scope: Scope) -> None:
        if node.exc is None:
            if not self._handling:
                raise RuntimeError("No active exception to reraise")
            raise self._handling[-1]
        exc = self._exception(self.eval(node.exc, scope))
        if node.cause is None:
            raise exc
        cause = self.eval(node.cause, scope)
        raise exc from (None if cause is None else self._exception(cause))

    def _exception(self, value: Any) -> Exception:
        if isinstance(value, type) and issubclass(value, Exception):  # an offered class: EXCEPTIONS, re.error, ...
            value = value()
        if not isinstance(value, Exception):
            raise TypeError("exceptions must derive from BaseException")
        return value

    def _s_try(self, node: ast.Try, scope: Scope) -> Any:
        try:
            signal = self._try_body(node, scope)
        except Exception as exc:  # a Violation is no Exception: on one, no finally block runs
            _escalate(exc)
            if node.finalbody:
                final = self._exec_block(node.finalbody, scope)
                if final is not None:
                    return final  # as in Python, return/break in finally discards the exception
            raise
        if node.finalbody:
            final = self._exec_block(node.finalbody, scope)
            if final is not None:
                return final
        return signal

    def _try_body(self, node: ast.Try, scope: Scope) -> Any:
        try:
            signal = self._exec_block(node.body, scope)
        except Exception as exc:
            _escalate(exc)
            for handler in node.handlers:
                if self._matches(handler, exc, scope):
                    return self._run_handler(handler, exc, scope)
            raise
        if signal is None and node.orelse:
            return self._exec_block(node.orelse, scope)
        return signal

    def _matches(self, handler: ast.ExceptHandler, exc: Exception, scope: Scope) -> bool:
        if handler.type is None:
            return True  # a bare except catches Exception only: violations are not Exceptions
        classes = self.eval(handler.type, scope)
        classes = classes if type(classes) is tuple else (classes,)
        if not all(isinstance(c, type) and issubclass(c, BaseException) for c in classes):
            raise TypeError("catching classes that do not inherit from BaseException is not allowed")
        return isinstance(exc, classes)

    def _run_handler(self, handler: ast.ExceptHandler, exc: Exception, scope: Scope) -> Any:
        if handler.name:
            scope.vars[handler.name] = exc
        self._handling.append(exc)
        try:
            return self._exec_block(handler.body, scope)
        finally:
            self._handling.pop()
            if handler.name:
                scope.vars.pop(handler.name, None)

    # -- binding -------------------------------------------------------------------------------
    def _bind(self, target: ast.expr, value: Any, scope: Scope) -> None:
        if isinstance(target, ast.Name):
            scope.vars[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            self._unpack(target.elts, value, scope)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value, scope)
            self._store_item(container, self.eval(target.slice, scope), value)
        else:
            raise Forbidden(f"cannot assign to {type(target).__name__}")

    def _unpack(self, targets: list[ast.expr], value: Any, scope: Scope) -> None:
        stars = [i for i, t in enumerate(targets) if isinstance(t, ast.Starred)]
        if len(stars) > 1:
            raise SyntaxViolation("multiple starred expressions in assignment")
        if not stars:
            items = list(islice(iter(value), len(targets) + 1))
            if len(items) != len(targets):
                few = len(items) < len(targets)
                raise ValueError(f"{'not enough' if few else 'too many'} values to unpack (expected {len(targets)})")
        else:
            everything = list(value)
            star, after = stars[0], len(targets) - stars[0] - 1
            if len(everything) < len(targets) - 1:
                raise ValueError(f"not enough values to unpack (expected at least {len(targets) - 1})")
            middle = self._new(everything[star:len(everything) - after])
            items = everything[:star] + [middle] + everything[len(everything) - after:]
            targets = [*targets[:star], targets[star].value, *targets[star + 1:]]  # type: ignore[attr-defined]
        for target, item in zip(targets, items):
            self._bind(target, self._guard_tuple(item), scope)

    def _store_item(self, container: Any, key: Any, value: Any) -> None:
        kind = type(container)
        if kind not in _ASSIGNABLE:
            raise Forbidden(f"item assignment is only allowed on lists and dicts, not {kind.__name__}")
        before = len(container)
        self._guard_tuple(key)
        container[key] = value
        if len(container) > before:
            self.charge(len(container) - before, f"a {kind.__name__}")
            if len(container) > self.limits.max_size:
                raise SizeLimit(f"a {kind.__name__} grew past the size limit of {self.limits.max_size}")

    # -- expressions ---------------------------------------------------------------------------
    def eval(self, node: ast.expr, scope: Scope) -> Any:
        self.ops = ops = self.ops + 1  # the budget check is inlined: this runs for every node
        if ops > self._max_ops or not ops & 255:
            self._check_budget()
        return self._expressions[type(node)](node, scope)

    def _e_name(self, node: ast.Name, scope: Scope) -> Any:
        name = node.id
        current: Scope | None = scope
        while current is not None:
            value = current.vars.get(name, _MISSING)
            if value is not _MISSING:
                return value
            current = current.parent
        return self._lookup(name, None)

    def _lookup(self, name: str, scope: Scope | None) -> Any:
        current: Scope | None = scope
        while current is not None:
            value = current.vars.get(name, _MISSING)
            if value is not _MISSING:
                return value
            current = current.parent
        value = self._names.get(name, _MISSING)
        if value is not _MISSING:
            return value
        if name in PYTHON_BUILTINS:
            raise Forbidden(f"'{name}' is not available in the sandbox")
        raise NameError(f"name '{name}' is not defined")

    def _e_attribute(self, node: ast.Attribute, scope: Scope) -> Any:
        return self.get_attribute(self.eval(node.value, scope), node.attr)

    def get_attribute(self, obj: Any, name: str) -> Any:
        if name.startswith("_"):
            raise Forbidden(f"the attribute '{name}' is forbidden")
        if type(obj) is SandboxModule:
            return obj.attribute(name)
        owner = attribute_owners(type(obj)).get(name)
        if owner is None:
            shown = _OPAQUE.get(type(obj))
            if shown is not None or hasattr(obj, name):
                raise Forbidden(f"the attribute '{name}' of {shown or type(obj).__name__} is not available in the sandbox")
            raise AttributeError(f"'{type(obj).__name__}' object has no attribute '{name}'")
        guard = self._method_guards.get((owner, name))
        if guard is not None:
            return Method(name, obj, partial(guard, obj))
        value = getattr(obj, name)
        if type(value) in _BOUND:  # shown as Python shows it, less the host's class path and address
            return Method(name, obj, value)
        return self._guard_tuple(value)

    def _e_subscript(self, node: ast.Subscript, scope: Scope) -> Any:
        container = self.eval(node.value, scope)
        key = self.eval(node.slice, scope)
        if type(container) is defaultdict and key not in container:  # reading a missing key adds it
            self.charge(1, "a defaultdict")
            if len(container) >= self.limits.max_size:
                raise SizeLimit(f"a defaultdict grew past the size limit of {self.limits.max_size}")
        value = container[key]
        if isinstance(key, slice) and type(value) in _SIZED:
            return self._new(value)
        return self._guard_tuple(value)

    def _e_slice(self, node: ast.Slice, scope: Scope) -> slice:
        parts = (node.lower, node.upper, node.step)
        return slice(*(None if part is None else self.eval(part, scope) for part in parts))

    def _e_call(self, node: ast.Call, scope: Scope) -> Any:
        func = self.eval(node.func, scope)
        args: list[Any] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.extend(self.eval(arg.value, scope))
            else:
                args.append(self.eval(arg, scope))
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            value = self.eval(keyword.value, scope)
            if keyword.arg is None and not isinstance(value, dict):  # no host object's items() is called
                raise TypeError(f"argument after ** must be a mapping, not {type(value).__name__}")
            pairs = value.items() if keyword.arg is None else [(keyword.arg, value)]
            for key, item in pairs:
                if not isinstance(key, str):
                    raise TypeError("keywords must be strings")
                if key in kwargs:
                    raise TypeError(f"got multiple values for keyword argument '{key}'")
                kwargs[key] = item
        self.line = node.lineno
        return self.call_value(func, args, kwargs, node.lineno)

    def call_value(self, func: Any, args: list[Any], kwargs: dict[str, Any], line: int | None = None) -> Any:
        """Call anything the program holds: its own functions, tools, builtins, allowed methods."""
        kind = type(func)
        if kind is SandboxFunction:
            return self.invoke(func, args, kwargs)
        if kind is ToolHandle:
            return self.call_tool(func.name, args, kwargs, self.line if line is None else line)
        receiver: Any = None
        borrows = False
        if kind is Builtin:
            func, borrows = func.fn, func.borrows
        elif kind is Method:
            receiver, borrows, func = func.receiver, func.name in _BORROWING_METHODS, func.call
        elif kind is type:
            func = self._type_guards.get(func, func)
        grows = type(receiver) in _MUTABLE
        before = len(receiver) if grows else 0
        result = func(*args, **kwargs)
        if grows and len(receiver) > before:
            self.charge(len(receiver) - before, f"a {type(receiver).__name__}")
            if len(receiver) > self.limits.max_size:
                raise SizeLimit(f"a {type(receiver).__name__} grew past the size limit of {self.limits.max_size}")
        if type(result) in _SIZED and not borrows:
            return self._new(result)
        return self._guard_tuple(result)

    def call_tool(self, name: str, args: Iterable[Any], kwargs: dict[str, Any], line: int | None) -> Any:
        self.tool_calls += 1
        if self.tool_calls > self.limits.max_tool_calls:
            raise OpLimit(f"the program made more than {self.limits.max_tool_calls} tool calls")
        return self._guard_tuple(self._call_tool(name, tuple(args), kwargs, line))

    def invoke(self, fn: SandboxFunction, args: Iterable[Any], kwargs: dict[str, Any]) -> Any:
        """Call one of the program's own functions in a new scope."""
        if self.depth >= self.limits.max_depth:
            raise RecursionLimit(f"calls nested deeper than {self.limits.max_depth} levels")
        self.depth += 1
        try:
            local = Scope(self._bind_arguments(fn, args, kwargs), fn.closure)
            for value in local.vars.values():
                if isinstance(value, tuple):
                    self._tuple_depth(value, 0)
            if isinstance(fn.node, ast.Lambda):
                return self.eval(fn.node.body, local)
            signal = self._exec_block(fn.node.body, local)
            return signal.value if type(signal) is _Return else None
        finally:
            self.depth -= 1

    def _bind_arguments(self, fn: SandboxFunction, args: Iterable[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        args = tuple(args)
        names = fn.plain
        if names is not None and not kwargs and len(args) == len(names):
            return dict(zip(names, args))
        try:
            bound = fn.signature.bind(*args, **kwargs)
        except TypeError as exc:
            error = TypeError(f"{fn.name}(): {exc}")
            mark_line(error, fn.node.lineno)
            raise error from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def _function(self, node: ast.FunctionDef | ast.Lambda, name: str, scope: Scope) -> SandboxFunction:
        spec = node.args
        positional = spec.posonlyargs + spec.args
        defaults = [self.eval(d, scope) for d in spec.defaults]
        first_default = len(positional) - len(defaults)
        params = []
        for i, arg in enumerate(positional):
            kind = Parameter.POSITIONAL_ONLY if i < len(spec.posonlyargs) else Parameter.POSITIONAL_OR_KEYWORD
            default = defaults[i - first_default] if i >= first_default else Parameter.empty
            params.append(Parameter(arg.arg, kind, default=default))
        if spec.vararg:
            params.append(Parameter(spec.vararg.arg, Parameter.VAR_POSITIONAL))
        for arg, default_node in zip(spec.kwonlyargs, spec.kw_defaults):
            default = Parameter.empty if default_node is None else self.eval(default_node, scope)
            params.append(Parameter(arg.arg, Parameter.KEYWORD_ONLY, default=default))
        if spec.kwarg:
            params.append(Parameter(spec.kwarg.arg, Parameter.VAR_KEYWORD))
        try:
            signature = Signature(params)
        except ValueError as exc:
            raise SyntaxViolation(f"invalid parameters of {name}(): {exc}") from None
        return SandboxFunction(name, node, signature, scope, self)

    def _e_lambda(self, node: ast.Lambda, scope: Scope) -> SandboxFunction:
        return self._function(node, "<lambda>", scope)

    def _e_binop(self, node: ast.BinOp, scope: Scope) -> Any:
        return self._binop(node.op, self.eval(node.left, scope), self.eval(node.right, scope))

    def _binop(self, op: ast.operator, left: Any, right: Any, inplace: bool = False) -> Any:
        kind = type(op)
        if kind is ast.Mult:
            self._check_mult(left, right)
        elif kind is ast.Add:
            if type(left) in _SEQUENCES and type(right) in _SEQUENCES:
                self._check_length(len(left) + len(right))
        elif kind is ast.Pow:
            self._check_pow(left, right)
        elif kind is ast.LShift:
            if isinstance(left, int) and isinstance(right, int) and left and right > 0:
                self._check_bits(left.bit_length() + right)
        elif kind is ast.Mod and isinstance(left, str):
            check_percent(left, right, self.limits.max_size)
        table = _INPLACE if inplace else _BINARY
        if kind not in table:
            raise Forbidden(f"the operator {kind.__name__} is not supported")
        before = len(left) if inplace and type(left) in _MUTABLE else None
        result = table[kind](left, right)
        if type(result) in _SIZED:
            if result is left and before is not None:
                self.charge(len(result) - before, f"a {type(result).__name__}")
                if len(result) > self.limits.max_size:
                    raise SizeLimit(f"a {type(result).__name__} grew past the size limit of {self.limits.max_size}")
            else:
                repeats = (left if type(left) in _SEQUENCES else right) if kind is ast.Mult else None
                self._new(result, repeats)
        return result

    def _check_length(self, n: int) -> None:
        if n > self.limits.max_size:
            raise SizeLimit(f"a sequence of {n} elements exceeds the size limit of {self.limits.max_size}")

    def _check_bits(self, bits: float) -> None:
        if bits > self.limits.max_int_bits:
            raise SizeLimit(f"an integer of about {bits:.0f} bits exceeds the limit of {self.limits.max_int_bits}")

    def _check_mult(self, left: Any, right: Any) -> None:
        for seq, count in ((left, right), (right, left)):
            if type(seq) in _SEQUENCES and hasattr(type(count), "__index__"):
                self._check_length(len(seq) * max(operator.index(count), 0))
                return
        if isinstance(left, int) and isinstance(right, int):
            self._check_bits(left.bit_length() + right.bit_length())

    def _check_pow(self, base: Any, exponent: Any) -> None:
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            self._check_bits(log2(abs(base)) * exponent)

    def _e_unaryop(self, node: ast.UnaryOp, scope: Scope) -> Any:
        return _UNARY[type(node.op)](self.eval(node.operand, scope))

    def _e_boolop(self, node: ast.BoolOp, scope: Scope) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for operand in node.values:
            value = self.eval(operand, scope)
            if bool(value) != is_and:
                return value
        return value

    def _e_compare(self, node: ast.Compare, scope: Scope) -> Any:
        left = self.eval(node.left, scope)
        result: Any = True
        last = len(node.ops) - 1
        for i, (op, comparator) in enumerate(zip(node.ops, node.comparators)):
            right = self.eval(comparator, scope)
            result = _COMPARE[type(op)](left, right)
            if i < last and not result:
                return result
            left = right
        return result

    def _e_ifexp(self, node: ast.IfExp, scope: Scope) -> Any:
        return self.eval(node.body if self.eval(node.test, scope) else node.orelse, scope)

    def _elements(self, nodes: list[ast.expr], scope: Scope) -> list[Any]:
        items: list[Any] = []
        for node in nodes:
            if isinstance(node, ast.Starred):
                items.extend(self.eval(node.value, scope))
            else:
                items.append(self.eval(node, scope))
        return items

    def _e_list(self, node: ast.List, scope: Scope) -> list[Any]:
        return self._new(self._elements(node.elts, scope))

    def _e_tuple(self, node: ast.Tuple, scope: Scope) -> tuple[Any, ...]:
        return self._new(tuple(self._elements(node.elts, scope)))

    def _e_set(self, node: ast.Set, scope: Scope) -> set[Any]:
        return self._new(set(self._elements(node.elts, scope)))

    def _e_dict(self, node: ast.Dict, scope: Scope) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                mapping = self.eval(value, scope)
                if not isinstance(mapping, dict):
                    raise TypeError(f"'{type(mapping).__name__}' object is not a mapping")
                result.update(mapping)
            else:
                result[self.eval(key, scope)] = self.eval(value, scope)
        return self._new(result)

    def _comprehension(self, generators: list[ast.comprehension], scope: Scope, first: Any) -> Iterable[Scope]:
        """Yield the comprehension's own scope once per combination of its ``for``/``if`` clauses."""
        inner = Scope({}, scope)

        def level(i: int, iterable: Any) -> Iterable[Scope]:
            clause = generators[i]
            for item in iterable:
                self.tick_iteration()
                self._bind(clause.target, self._guard_tuple(item), inner)
                if all(self.eval(condition, inner) for condition in clause.ifs):
                    if i + 1 == len(generators):
                        yield inner
                    else:
                        yield from level(i + 1, self.eval(generators[i + 1].iter, inner))

        return level(0, first)

    def _e_listcomp(self, node: ast.ListComp, scope: Scope) -> list[Any]:
        first = self.eval(node.generators[0].iter, scope)
        return self._new([self.eval(node.elt, s) for s in self._comprehension(node.generators, scope, first)])

    def _e_setcomp(self, node: ast.SetComp, scope: Scope) -> set[Any]:
        first = self.eval(node.generators[0].iter, scope)
        return self._new({self.eval(node.elt, s) for s in self._comprehension(node.generators, scope, first)})

    def _e_dictcomp(self, node: ast.DictComp, scope: Scope) -> dict[Any, Any]:
        first = self.eval(node.generators[0].iter, scope)
        result = {}
        for s in self._comprehension(node.generators, scope, first):
            key = self.eval(node.key, s)
            result[key] = self.eval(node.value, s)
        return self._new(result)

    def _e_genexp(self, node: ast.GeneratorExp, scope: Scope) -> LazyGenerator:
        """Lazy, as in Python (``any(detect(...) for ...)`` must stop calling tools early)."""
        scopes = self._comprehension(node.generators, scope, self.eval(node.generators[0].iter, scope))
        return LazyGenerator(self, (self.eval(node.elt, s) for s in scopes))

    def _e_joinedstr(self, node: ast.JoinedStr, scope: Scope) -> str:
        parts = [self.eval(value, scope) for value in node.values]
        self._check_length(sum(len(p) for p in parts))
        return self._new("".join(parts))

    def _e_formatted(self, node: ast.FormattedValue, scope: Scope) -> str:
        value = self.eval(node.value, scope)
        cap = self.limits.max_size
        check_text(value, cap)
        if node.conversion != -1:
            value = _CONVERSIONS[node.conversion](value)
        spec = "" if node.format_spec is None else self.eval(node.format_spec, scope)
        check_format_spec(spec, cap)
        return format(value, spec)

    def _e_namedexpr(self, node: ast.NamedExpr, scope: Scope) -> Any:
        value = self.eval(node.value, scope)
        scope.vars[node.target.id] = value
        return value

    def _e_starred(self, node: ast.Starred, scope: Scope) -> Any:
        raise SyntaxViolation("can't use starred expression here", node.lineno)
