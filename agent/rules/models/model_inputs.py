"""A functional model's inputs must be ``Input`` tensors where the model is built.

``x = Input(...); x = Dense(4)(x); model = Model(x, x)`` names a layer's output as the input:
Keras 3 refuses it ("Output ... is not connected to `inputs`"). ``Model(hidden, y)`` over an
intermediate tensor is a sub-model in Keras 3 (it clones the graph from ``hidden`` on), which
the extractor does not build: it walks every producer back to the real ``Input``. Either way
converting would compute something else, so the model stays as written with one report line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import libcst as cst

from agent.rules.models.graph import Call, Tensor
from agent.rules.values import code_of


def not_inputs(ins_node: cst.BaseExpression, inputs: Sequence[Tensor],
               outputs: Sequence[Tensor], producer: Mapping[int, Call]) -> str | None:
    """Why ``keras.Model(ins_node, ...)`` is not converted, or None when every input is an
    ``Input`` tensor (a tensor no layer call produced)."""
    made = [t for t in inputs if id(t) in producer]
    if not made:
        return None
    written = code_of(ins_node)
    layer = producer[id(made[0])].layer.keras_name or "a layer"
    if any(t is o for t in made for o in outputs):
        return (f"keras.Model({written}, ...): the input {written} is the output of {layer} "
                "here (the name was rebound), not an Input tensor, and is also the output: "
                "Keras cannot build this model (not connected to its inputs); left as written")
    return (f"keras.Model({written}, ...): an input is the output of {layer}, not an Input "
            "tensor (Keras 3 builds a sub-model from that tensor on, which the rules do not); "
            "left as written")
