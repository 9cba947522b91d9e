"""Graphs built the way people build them: tensor helper functions and loops over layers.

``def conv_block(x, filters): ...; return x`` called from a builder is inlined: its body is
copied with the parameters replaced by the call's arguments and its local names renamed so
they cannot clash with the caller's, then read like the caller's own statements.
``for f in [32, 64]: x = conv_block(x, f)`` is unrolled when the values are known statically
(literals, module constants, ``range`` of those). Both only produce statements for the
extractor; they never run user code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

from agent.rules.spec import Unsupported
from agent.rules.values import UNKNOWN, code_of

MAX_UNROLL = 64  # iterations; a longer loop is left to a person (or a ModuleList by hand)
_ATOMIC = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float,
           cst.SimpleString, cst.List, cst.Tuple, cst.Dict)


def helper_parts(fn: cst.FunctionDef) -> tuple[list[cst.BaseStatement], cst.BaseExpression]:
    """The statements of a tensor helper and the expression it returns (last statement)."""
    if not isinstance(fn.body, cst.IndentedBlock) or not fn.body.body:
        raise Unsupported(f"helper {fn.name.value}() has no body to inline")
    body = list(fn.body.body)
    first = body[0]
    if (isinstance(first, cst.SimpleStatementLine) and isinstance(first.body[0], cst.Expr)
            and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString))):
        body = body[1:]  # docstring
    last = body[-1] if body else None
    if not (isinstance(last, cst.SimpleStatementLine) and len(last.body) == 1
            and isinstance(last.body[0], cst.Return) and last.body[0].value is not None):
        raise Unsupported(f"helper {fn.name.value}() does not end with `return <tensor>`")
    returns = _Returns()
    for stmt in body[:-1]:
        stmt.visit(returns)
    if returns.found:
        raise Unsupported(f"helper {fn.name.value}() returns from several places")
    value = last.body[0].value
    assert value is not None
    return body[:-1], value


def bind_args(fn: cst.FunctionDef, call: cst.Call) -> dict[str, cst.BaseExpression]:
    """Parameter name -> argument expression (or the parameter's default)."""
    params = fn.params
    if params.star_kwarg is not None or isinstance(params.star_arg, cst.Param):
        raise Unsupported(f"helper {fn.name.value}(*args/**kwargs) cannot be inlined")
    ordered = [*params.posonly_params, *params.params]
    out: dict[str, cst.BaseExpression] = {}
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in call.args):
        raise Unsupported(f"{fn.name.value}(*...) cannot be inlined")
    if len(positional) > len(ordered):
        raise Unsupported(f"{fn.name.value}(): too many positional arguments")
    for p, a in zip(ordered, positional, strict=False):
        out[p.name.value] = a.value
    known = {p.name.value for p in [*ordered, *params.kwonly_params]}
    for a in call.args:
        if a.keyword is not None:
            if a.keyword.value not in known:
                raise Unsupported(f"{fn.name.value}() has no parameter {a.keyword.value}")
            out[a.keyword.value] = a.value
    for p in [*ordered, *params.kwonly_params]:
        if p.name.value not in out:
            if p.default is None:
                raise Unsupported(f"{fn.name.value}() called without {p.name.value}")
            out[p.name.value] = p.default
    return out


def assigned_names(stmts: Sequence[cst.BaseStatement]) -> set[str]:
    collector = _Assigned()
    for stmt in stmts:
        stmt.visit(collector)
    return collector.names


def substitute(node: cst.CSTNodeT, mapping: dict[str, cst.BaseExpression]) -> cst.CSTNodeT:
    """``node`` with the names in ``mapping`` replaced (attribute and keyword names kept)."""
    if not mapping:
        return node
    new = node.visit(_Substitute(mapping))
    return new  # type: ignore[return-value]


def rename_dim(dim: int | str | None, mapping: dict[str, cst.BaseExpression]
               ) -> int | str | None:
    """A size expression of a builder (``"units * 2"``) in its caller's terms."""
    if not isinstance(dim, str):
        return dim
    try:
        node = cst.parse_expression(dim)
    except cst.ParserSyntaxError:
        return None
    value = substitute(node, {k: parenthesized(v) for k, v in mapping.items()})
    return code_of(value)


def literal(value: Any) -> cst.BaseExpression:
    return cst.parse_expression(repr(value))


def parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, _ATOMIC) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def unroll_values(loop: cst.For, env: dict[str, Any]) -> list[Any] | None:
    """The values a ``for`` loop iterates over, when known statically; None otherwise."""
    values = static_value(loop.iter, env)
    if isinstance(values, (range, tuple, list, zip, enumerate, dict)):
        values = list(values)
        return values if len(values) <= MAX_UNROLL else None
    return None


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}
STATIC_CALLS: dict[str, Callable[..., Any]] = {
    "range": range, "len": len, "min": min, "max": max, "int": int, "enumerate": enumerate,
    "zip": zip, "reversed": lambda v: list(reversed(v)), "list": list, "tuple": tuple}


def static_value(node: cst.BaseExpression, env: dict[str, Any]) -> Any:
    """A small, safe evaluator for loop bounds and branch tests: literals, names bound to
    constants, arithmetic, comparisons, slices, range/len/min/max. UNKNOWN otherwise."""
    try:
        tree = ast.parse(code_of(node).strip(), mode="eval")
        return _static(tree.body, env)
    except (_NotStatic, SyntaxError, ValueError, TypeError, ZeroDivisionError, IndexError,
            KeyError, OverflowError, RecursionError):
        return UNKNOWN


def static_ast(node: ast.expr, env: dict[str, Any]) -> Any:
    """:func:`static_value` for an ``ast`` expression."""
    try:
        return _static(node, env)
    except (_NotStatic, ValueError, TypeError, ZeroDivisionError, IndexError, KeyError,
            OverflowError, RecursionError):
        return UNKNOWN


class _NotStatic(Exception):
    pass


def _static(n: ast.expr, env: dict[str, Any]) -> Any:
    if isinstance(n, ast.Constant):
        return n.value
    if isinstance(n, ast.Name):
        if n.id in env:
            return env[n.id]
        raise _NotStatic(n.id)
    if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):  # config.DEPTH
        dotted = f"{n.value.id}.{n.attr}"
        if dotted in env:
            return env[dotted]
        raise _NotStatic(dotted)
    if isinstance(n, (ast.Tuple, ast.List)):
        items = [_static(e, env) for e in n.elts]
        return tuple(items) if isinstance(n, ast.Tuple) else items
    if isinstance(n, ast.BinOp) and type(n.op) in _BINARY:
        left, right = _static(n.left, env), _static(n.right, env)
        if isinstance(n.op, ast.Pow) and isinstance(right, int) and right > 64:
            raise _NotStatic("power")
        if isinstance(n.op, ast.Mult) and (isinstance(left, (list, tuple, str))
                                           or isinstance(right, (list, tuple, str))):
            raise _NotStatic("repetition")
        return _BINARY[type(n.op)](left, right)
    if isinstance(n, ast.UnaryOp):
        v = _static(n.operand, env)
        if isinstance(n.op, ast.Not):
            return not v
        if isinstance(n.op, ast.USub):
            return -v
        if isinstance(n.op, ast.UAdd):
            return +v
    if isinstance(n, ast.BoolOp):
        values = [_static(v, env) for v in n.values]
        return all(values) if isinstance(n.op, ast.And) else any(values)
    if isinstance(n, ast.Compare):
        left = _static(n.left, env)
        for op, comp in zip(n.ops, n.comparators, strict=True):
            right = _static(comp, env)
            if type(op) not in _COMPARE or not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(n, ast.Subscript):
        base = _static(n.value, env)
        if isinstance(n.slice, ast.Slice):
            parts = [_static(p, env) if p is not None else None
                     for p in (n.slice.lower, n.slice.upper, n.slice.step)]
            return base[slice(*parts)]
        return base[_static(n.slice, env)]
    if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and not n.args \
            and not n.keywords and n.func.attr in ("items", "keys", "values"):
        base = _static(n.func.value, env)
        if isinstance(base, dict):  # FEATURES.items(): a list, in the dict's order
            if n.func.attr != "keys" and any(v is UNKNOWN for v in base.values()):
                raise _NotStatic("values read from data")  # agent/rules/static_keys.py
            return list(getattr(base, n.func.attr)())
    if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in STATIC_CALLS \
            and not n.keywords:
        args = [_static(a, env) for a in n.args]
        if n.func.id == "range" and len(range(*args)) > MAX_UNROLL:
            raise _NotStatic("long range")
        return STATIC_CALLS[n.func.id](*args)
    raise _NotStatic(type(n).__name__)


def loop_bindings(target: cst.BaseAssignTargetExpression, value: Any
                  ) -> dict[str, cst.BaseExpression] | None:
    """``for a, b in ...`` target names -> the literal for one iteration's value."""
    if isinstance(target, cst.Name):
        return {target.value: literal(value)}
    if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (tuple, list)) \
            and len(target.elements) == len(value):
        out: dict[str, cst.BaseExpression] = {}
        for el, v in zip(target.elements, value, strict=True):
            inner = loop_bindings(el.value, v)  # type: ignore[arg-type]
            if inner is None:
                return None
            out.update(inner)
        return out
    return None


def loop_body(loop: cst.For) -> list[cst.BaseStatement] | None:
    """A loop body the extractor can unroll: no else/break/continue/return."""
    if loop.orelse is not None or not isinstance(loop.body, cst.IndentedBlock):
        return None
    flow = _Flow()
    for stmt in loop.body.body:
        stmt.visit(flow)
    return None if flow.found else list(loop.body.body)


class FreshNames:
    """Names for inlined locals that do not clash with the caller's (``taken``, read at each
    call: a stored callable over the caller would make it garbage only a collection frees)."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, base: str, taken: set[str]) -> str:
        taken = taken | self.used
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name


class _Returns(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Return(self, node: cst.Return) -> None:
        self.found = True

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False


class _Flow(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found = False

    def visit_Break(self, node: cst.Break) -> None:
        self.found = True

    def visit_Continue(self, node: cst.Continue) -> None:
        self.found = True

    def visit_Return(self, node: cst.Return) -> None:
        self.found = True


class _Assigned(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def _target(self, node: cst.BaseExpression) -> None:
        if isinstance(node, cst.Name):
            self.names.add(node.value)
        elif isinstance(node, (cst.Tuple, cst.List)):
            for el in node.elements:
                self._target(el.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.names.add(node.name.value)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


class _Substitute(cst.CSTTransformer):
    def __init__(self, mapping: dict[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.mapping = mapping
        self.protected: set[int] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.protected.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.protected.add(id(node.keyword))

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False  # its parameters shadow; Lambda bodies rarely use helper locals

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name
                   ) -> cst.BaseExpression:
        if id(original_node) in self.protected:
            return updated_node
        new = self.mapping.get(original_node.value)
        return updated_node if new is None else new
