"""Output shapes of Lambda bodies built from ops and arithmetic on the Lambda's parameter.

``Lambda(lambda t: t / (tf.norm(t, axis=-1, keepdims=True) + 1e-6))`` then ``Concatenate()``:
the concatenation needs the rank the body leaves. A body is read bottom-up: the parameter
has the input's shape, a number is a scalar, an op with a shape rule (``op_shapes.py``)
maps its first argument's shape, and arithmetic broadcasts as NumPy does. Anything else is
unknown (None), which leaves the later layers as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import libcst as cst

from agent.rules.models.op_shapes import ShapeRule, shape_rule
from agent.rules.models.shapes import Dim, Shape

Qual = Callable[[cst.BaseExpression], str | None]
_ARITH = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo,
          cst.Power)


def lambda_rule(body: cst.BaseExpression, param: str, qual: Qual, env: dict[str, Any]
                ) -> ShapeRule | None:
    """The shape rule of a one-parameter Lambda body, or None when some part is unknown."""
    if _shape(body, param, (None,), qual, env, probe=True) is None:
        return None

    def rule(shapes: Sequence[Shape | None]) -> Shape | None:
        shape = shapes[0] if shapes else None
        return None if shape is None else _shape(body, param, shape, qual, env)
    return rule


def _shape(node: cst.BaseExpression, param: str, shape: Shape, qual: Qual,
           env: dict[str, Any], probe: bool = False) -> Shape | None:
    """``probe``: only whether every part has a rule (the sizes are placeholders)."""
    if isinstance(node, cst.Name) and node.value == param:
        return shape
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return _shape(node.expression, param, shape, qual, env, probe)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, _ARITH):
        if _number(node.left):  # a Python number broadcasts to anything
            return _shape(node.right, param, shape, qual, env, probe)
        if _number(node.right):
            return _shape(node.left, param, shape, qual, env, probe)
        left = _shape(node.left, param, shape, qual, env, probe)
        right = _shape(node.right, param, shape, qual, env, probe)
        return None if left is None or right is None else _broadcast(left, right)
    if isinstance(node, cst.Call) and node.args and node.args[0].keyword is None:
        rule = shape_rule(qual(node.func), node, env)
        inner = _shape(node.args[0].value, param, shape, qual, env, probe)
        if rule is None or inner is None:
            return None
        return inner if probe else rule([inner])
    return None


def _number(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.UnaryOperation):
        return _number(node.expression)
    return isinstance(node, (cst.Integer, cst.Float))


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    """Broadcasting of two batch-less shapes of the same rank (None: a size not known here;
    ranks that differ would align the batch axis with another one: unknown)."""
    if len(a) != len(b):
        return None
    out: list[Dim] = []
    for x, y in zip(a, b, strict=True):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif x is None or y is None:
            out.append(None)
        else:
            return None
    return tuple(out)
