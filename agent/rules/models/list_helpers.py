"""``Sequential([Input(...)] + conv_block(16) + [...])``: helpers that return a list of layers.

A module-level function whose body is one ``return [layer, ...]`` is read as that list with
the call's arguments written in place of its parameters, so the Sequential takes its layers
as if they were listed inline (the same layers, made in the same order as Keras makes them).
Anything else (statements before the return, ``*args``) is not expanded.
"""

from __future__ import annotations

import libcst as cst


def called(part: cst.BaseExpression, helpers: dict[str, cst.FunctionDef]) -> str:
    """The helper a summand calls, when ``expand`` reads it ("" otherwise)."""
    return part.func.value if (isinstance(part, cst.Call) and isinstance(part.func, cst.Name)
                               and expand(part, helpers) is not None) else ""


def expand(part: cst.BaseExpression, helpers: dict[str, cst.FunctionDef]
           ) -> cst.List | cst.Tuple | None:
    """The list ``helper(args)`` returns, its parameters replaced by the arguments."""
    if not (isinstance(part, cst.Call) and isinstance(part.func, cst.Name)):
        return None
    fn = helpers.get(part.func.value)
    if fn is None:
        return None
    returned = _returned_list(fn)
    bound = _bind(fn, part) if returned is not None else None
    if returned is None or bound is None:
        return None
    new = returned.visit(_Substitute(bound))
    return new if isinstance(new, (cst.List, cst.Tuple)) else None


def _returned_list(fn: cst.FunctionDef) -> cst.List | cst.Tuple | None:
    body = [s for s in fn.body.body if not _docstring(s)] \
        if isinstance(fn.body, cst.IndentedBlock) else []
    if len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine):
        return None
    ret = body[0].body[0] if len(body[0].body) == 1 else None
    if isinstance(ret, cst.Return) and isinstance(ret.value, (cst.List, cst.Tuple)):
        return ret.value
    return None


def _docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _bind(fn: cst.FunctionDef, call: cst.Call) -> dict[str, cst.BaseExpression] | None:
    params = fn.params
    if isinstance(params.star_arg, cst.Param) or params.star_kwarg is not None \
            or params.posonly_params:
        return None
    names = [*params.params, *params.kwonly_params]
    bound: dict[str, cst.BaseExpression] = {}
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star for a in call.args) or len(positional) > len(params.params):
        return None
    for p, a in zip(params.params, positional, strict=False):
        bound[p.name.value] = a.value
    for a in call.args:
        if a.keyword is not None:
            if a.keyword.value not in {p.name.value for p in names} or a.keyword.value in bound:
                return None
            bound[a.keyword.value] = a.value
    for p in names:
        if p.name.value not in bound:
            if p.default is None:
                return None
            bound[p.name.value] = p.default
    return bound


class _Substitute(cst.CSTTransformer):
    def __init__(self, bound: dict[str, cst.BaseExpression]) -> None:
        self.bound = bound

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return self.bound.get(original.value, updated)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.Attribute:
        return updated.with_changes(attr=original.attr)  # ``layers.filters`` is no parameter

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)
