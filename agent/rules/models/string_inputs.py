"""A preprocessing layer called on a model's string Input (``x = vectorizer(text_input)``,
an "end-to-end" model over an adapted ``TextVectorization`` or ``StringLookup``).

torch modules take tensors, not strings, and the layer's vocabulary comes from the data
(``adapt``), not from its constructor: the converted class starts at the layer's integer
output, a forward parameter of its own, and the layer object of the script (runtime/
lookup_layers.py) runs on the data before the model (``predict`` applies it).
"""

from __future__ import annotations

import libcst as cst

from agent.rules.models.graph import Layer, Tensor
from agent.rules.models.shapes import Shape
from agent.rules.values import evaluate

STRING_STEPS = ("TextVectorization", "StringLookup")
STRING_STEP_WARNINGS = ("{var}(...) on the model's string input: the converted class takes its integer "
                        "output; {var} runs on the data before it (predict does so; call the class on "
                        "{var}(strings))")


def integer_input(layer: Layer, var: str, source: Tensor, name: str,
                  env: dict[str, object]) -> Tensor | None:
    """The Input that replaces ``source`` when ``layer`` (bound to ``var``) maps strings to
    indices; None when it is no such layer or another output mode or ``invert``."""
    if layer.keras_name not in STRING_STEPS or not layer.source:
        return None
    try:
        ctor = cst.parse_expression(layer.source)
    except cst.ParserSyntaxError:
        return None
    if not isinstance(ctor, cst.Call):
        return None
    kwargs = {a.keyword.value: evaluate(a.value, env).value for a in ctor.args
              if a.keyword is not None}
    if kwargs.get("output_mode", "int") != "int" or kwargs.get("invert", False) is not False:
        return None
    length = kwargs.get("output_sequence_length")
    shape: Shape | None = ((length if isinstance(length, int) else None),) \
        if layer.keras_name == "TextVectorization" else source.shape
    return Tensor(name, shape, "long", prepared_by=var)
