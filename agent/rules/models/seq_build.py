"""``model.build(input_shape)`` on a Sequential whose layers give no input shape.

Keras builds such a model from the shape passed to ``build`` (batch dimension first); without
it the converted class has no ``example_input_array``, so neither Lightning's summary nor the
checks can run it. The shape is read like an ``Input``'s, the batch dimension dropped, and
an Embedding first means token ids (long), as with ``input_shape=`` on the layer.

Without ``build`` or any input shape, an Embedding whose output the next layers read as
sequences (an RNN, a 1D convolution or pooling) tells the rank: token ids of one open length,
``(steps,)``, which the example input fills with 8 steps as for ``Input(shape=(None,))``.
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


# layers that read (batch, steps, features): after an Embedding, its input was (batch, steps)
_SEQUENCE_READERS = frozenset({
    "LSTM", "GRU", "SimpleRNN", "Bidirectional", "Conv1D", "SeparableConv1D",
    "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
    "SpatialDropout1D", "MaxPool1D", "AvgPool1D", "GlobalAvgPool1D", "GlobalMaxPool1D"})
_ANY_RANK = frozenset({"Dropout", "Activation", "GaussianNoise", "BatchNormalization",
                       "LayerNormalization"})


def token_sequence_input(layers: list[Any]) -> tuple[Any, ...] | None:
    """``(None,)`` for a Sequential without an input shape that starts with an Embedding read
    as a sequence by the first layer that tells a rank; None otherwise."""
    if not layers or getattr(layers[0], "keras_name", "") != "Embedding":
        return None
    for layer in layers[1:]:
        name = getattr(layer, "keras_name", "")
        if name in _SEQUENCE_READERS:
            return (None,)
        if name not in _ANY_RANK:
            return None
    return None
