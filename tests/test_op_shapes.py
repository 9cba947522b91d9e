"""Output shapes of tf / keras.ops calls (agent/rules/models/op_shapes.py), read from the
calls' literal arguments; shapes have no batch axis, TF axes count it."""

from __future__ import annotations

from typing import Any

import libcst as cst
import pytest

from agent.rules.models.op_shapes import shape_rule


def _out(qual: str, call: str, *shapes: Any) -> Any:
    rule = shape_rule(qual, cst.parse_expression(call), {"C": 3})
    return "no rule" if rule is None else rule(list(shapes))


@pytest.mark.parametrize(("qual", "call", "shapes", "expected"), [
    ("tensorflow.reduce_mean", "f(x, axis=-1)", [(4, 5, 3)], (4, 5)),
    ("tensorflow.reduce_mean", "f(x, axis=1, keepdims=True)", [(4, 5, 3)], (1, 5, 3)),
    ("tensorflow.reduce_sum", "f(x, axis=[1, 2])", [(4, 5, 3)], (3,)),
    ("tensorflow.reduce_max", "f(x)", [(4, 5)], None),  # every axis: a scalar
    ("tensorflow.reduce_max", "f(x, axis=0)", [(4, 5)], None),  # the batch axis
    ("keras.ops.mean", "f(x, 1)", [(4, 5)], (5,)),
    ("tensorflow.expand_dims", "f(x, axis=-1)", [(4, 5)], (4, 5, 1)),
    ("tensorflow.expand_dims", "f(x, 1)", [(4, 5)], (1, 4, 5)),
    ("tensorflow.squeeze", "f(x, axis=-1)", [(4, 1)], (4,)),
    ("tensorflow.squeeze", "f(x, axis=-1)", [(4, 2)], None),  # not a size-1 axis
    ("tensorflow.concat", "f([a, b], axis=-1)", [(4, 2), (4, 3)], (4, 5)),
    ("tensorflow.concat", "f([a, b], axis=-1)", [(4, 2), (4, None)], (4, None)),
    ("keras.ops.concatenate", "f([a, b])", [(2,), (3,)], (5,)),
    ("tensorflow.reshape", "f(x, (-1, C * 4))", [(3, 4)], (12,)),
    ("tensorflow.reshape", "f(x, (-1, 2, -1))", [(3, 4)], (2, None)),
    ("tensorflow.reshape", "f(x, (8, 2))", [(16,)], "no rule"),  # a fixed batch size
    ("tensorflow.gather", "f(x, 1)", [(4,)], "no rule"),
    ("numpy.mean", "f(x, axis=-1)", [(4,)], "no rule"),
])
def test_shape_rules(qual: str, call: str, shapes: list[Any], expected: Any) -> None:
    assert _out(qual, call, *shapes) == expected


def test_unknown_input_shape_gives_an_unknown_output() -> None:
    assert _out("tensorflow.expand_dims", "f(x, -1)", None) is None
