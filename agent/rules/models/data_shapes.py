"""``input_shape=x_train.shape[1:]``: a layer's input shape read from a data array.

Scripts size the first layer from the training array after reshaping it
(``x = x.reshape(x.shape[0], -1, 1)``). When the array's last reshape above the model has
literal sizes (``-1`` is a dimension Keras leaves open) and everything after it keeps the shape
(``astype``, ``x /= 255``, ``x = x * 2``), the per-sample shape is known without running the
script, so the converted class gets real sizes and an example input instead of lazy modules.
Anything else (a loop, a branch, another call) leaves the shape unknown, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst
import libcst.matchers as m

from agent.rules.values import Value, assigned_names

_KEEPS_SHAPE = ("astype",)  # methods returning an array of the same shape


def _array_read(node: cst.BaseExpression) -> tuple[str, int] | None:
    """``x.shape[k:]`` -> (x, k)."""
    if not m.matches(node, m.Subscript(value=m.Attribute(value=m.Name(), attr=m.Name("shape")))):
        return None
    assert isinstance(node, cst.Subscript)
    (element,) = node.slice if len(node.slice) == 1 else (None,)
    if element is None or not isinstance(element.slice, cst.Slice):
        return None
    sl = element.slice
    if sl.upper is not None or sl.step is not None or not isinstance(sl.lower, cst.Integer):
        return None
    assert isinstance(node.value, cst.Attribute) and isinstance(node.value.value, cst.Name)
    return node.value.value.value, int(sl.lower.value)


def _reshape_sizes(value: cst.BaseExpression, name: str,
                   evaluate: Callable[[cst.BaseExpression], Value]) -> list[Any] | None:
    """The sizes of ``name.reshape(...)`` (None for -1 or an unknown first dimension)."""
    if not m.matches(value, m.Call(func=m.Attribute(value=m.Name(name), attr=m.Name("reshape")))):
        return None
    assert isinstance(value, cst.Call)
    args = [a.value for a in value.args if a.keyword is None]
    if len(args) == 1 and isinstance(args[0], (cst.Tuple, cst.List)):
        args = [e.value for e in args[0].elements]
    sizes: list[Any] = []
    for k, arg in enumerate(args):
        v = evaluate(arg)
        if v.known and isinstance(v.value, int) and not isinstance(v.value, bool):
            sizes.append(None if v.value == -1 else v.value)
        elif k == 0:
            sizes.append(None)  # the batch dimension: dropped anyway
        else:
            return None
    return sizes if sizes.count(None) <= 1 + (sizes[:1] == [None]) else None


def _keeps_shape(stmt: cst.BaseSmallStatement, name: str) -> bool:
    if isinstance(stmt, cst.AugAssign):
        return True  # x /= 255
    if not isinstance(stmt, cst.Assign):
        return False
    value = stmt.value
    if isinstance(value, cst.Call) and m.matches(value.func, m.Attribute(value=m.Name(name))):
        assert isinstance(value.func, cst.Attribute)
        return value.func.attr.value in _KEEPS_SHAPE
    return isinstance(value, cst.BinaryOperation) and m.matches(value.left, m.Name(name)) \
        and isinstance(value.right, (cst.Integer, cst.Float, cst.Name))


def data_shape(node: cst.BaseExpression | None, above: Sequence[cst.BaseStatement],
               evaluate: Callable[[cst.BaseExpression], Value]) -> tuple[Any, ...] | None:
    """The shape ``node`` (``x.shape[k:]``) reads, from the statements ``above`` it."""
    read = _array_read(node) if node is not None else None
    if read is None:
        return None
    name, start = read
    for stmt in reversed(above):
        if not isinstance(stmt, cst.SimpleStatementLine):
            if _assigns_inside(stmt, name):
                return None
            continue
        if name not in assigned_names(stmt):
            continue
        if len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        if _keeps_shape(small, name):
            continue
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            sizes = _reshape_sizes(small.value, name, evaluate)
            if sizes is not None and start >= 1:
                return tuple(sizes[start:])
        return None
    return None


def _assigns_inside(stmt: cst.BaseStatement, name: str) -> bool:
    """Whether a compound statement (loop, branch, with) binds ``name`` somewhere in it."""
    found = False

    class V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            nonlocal found
            found = found or n.value == name

    stmt.visit(V())
    return found
