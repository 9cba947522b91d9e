"""Weightless Keras layers applied to data outside any model → runtime/data_layers.py modules.

``up = layers.UpSampling2D(size=(4, 4), interpolation="bilinear")`` made at module level
and called on batches (attention maps to plot, a callback's visualisation) is no part of a
model the model rules convert, yet it is a Keras layer left in the script: every tf.data
pipeline then stays TensorFlow. The runtime class takes the same arguments, so the call
keeps its arguments and only its callee changes. All or none, and only when no other Keras
model or layer is left (a layer inside a Keras model left must stay Keras).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import PositionProvider

from agent.rules import parsed
from agent.rules.imports import ImportTable
from agent.rules.training.utilities import keras_models_left

# canonical Keras name -> (runtime class, the keywords it takes, most positional arguments)
LAYERS: dict[str, tuple[str, frozenset[str], int]] = {
    "keras.layers.UpSampling2D": (
        "KerasUpSampling2D", frozenset({"size", "data_format", "interpolation", "dtype", "name"}),
        3),
}


@dataclass
class Rewritten:
    code: str
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, rule, message)


class _Apply(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, imports: ImportTable, source_lines: list[str]) -> None:
        self.imports = imports
        self.source_lines = source_lines
        self.changes: list[tuple[int, str, str]] = []
        self.refused = False

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        qual = self.imports.resolve(original.func) or ""
        if qual not in LAYERS:
            return updated
        runtime, keywords, positional = LAYERS[qual]
        if any(a.star for a in original.args) \
                or sum(a.keyword is None for a in original.args) > positional \
                or any(a.keyword is not None and a.keyword.value not in keywords
                       for a in original.args):
            self.refused = True
            return updated
        here = self.get_metadata(PositionProvider, original).start.line
        first = cst.Module([]).code_for_node(original).splitlines()[0].strip()
        hits = [k + 1 for k, text in enumerate(self.source_lines) if first in text]
        line = min(hits, key=lambda k: abs(k - here)) if hits else here  # the user's line
        self.changes.append((line, "data.layer", f"{qual} on data -> {runtime} (runtime module, "
                                                 "channels-last batches)"))
        return updated.with_changes(func=cst.Name(runtime))


def rewrite_data_layers(code: str, imports: ImportTable, source: str = "") -> Rewritten:
    """``code`` with its weightless Keras layers as runtime modules, when that leaves no
    Keras model or layer in it; unchanged otherwise."""
    if not any(name.rsplit(".", 1)[-1] in code for name in LAYERS):
        return Rewritten(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return Rewritten(code)
    apply = _Apply(imports, (source or code).splitlines())
    new = cst.MetadataWrapper(module, unsafe_skip_copy=True).visit(apply)
    if apply.refused or not apply.changes:
        return Rewritten(code)
    try:
        left = keras_models_left(parsed.parse(new.code), imports)
    except SyntaxError:
        return Rewritten(code)
    return Rewritten(code) if left else Rewritten(new.code, apply.changes)
