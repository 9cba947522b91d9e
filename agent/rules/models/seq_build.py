"""``model.build(input_shape)`` on a Sequential whose layers give no input shape.

Keras builds such a model from the shape passed to ``build`` (batch dimension first); without
it the converted class has no ``example_input_array``, so neither Lightning's summary nor the
checks can run it. The shape is read like an ``Input``'s, the batch dimension dropped, and
an Embedding first means token ids (long), as with ``input_shape=`` on the layer.
"""

from __future__ import annotations

from typing import Any, Protocol

import libcst as cst


class _Seq(Protocol):
    input_shape: tuple[Any, ...] | None
    input_dtype: str
    layers: list[Any]


class _Tracer(Protocol):
    def _shape_of(self, node: cst.BaseExpression | None) -> tuple[Any, ...] | None: ...


def shape_argument(call: cst.Call) -> cst.BaseExpression | None:
    """The ``input_shape`` argument of ``build(...)`` (positional or keyword)."""
    for k, arg in enumerate(call.args):
        if (arg.keyword is None and k == 0) or (
                arg.keyword is not None and arg.keyword.value == "input_shape"):
            return arg.value
    return None


def seq_build(tracer: _Tracer, seq: _Seq, call: cst.Call) -> None:
    """Take the input shape of ``seq`` from ``seq.build(shape)`` when the shape is a literal
    (or constants) of known rank; anything else leaves the model as it was."""
    shape = tracer._shape_of(shape_argument(call))
    if not shape or len(shape) < 2:
        return
    seq.input_shape = tuple(shape[1:])
    first = seq.layers[0] if seq.layers else None
    if first is not None and getattr(first, "keras_name", "") == "Embedding":
        seq.input_dtype = "long"
