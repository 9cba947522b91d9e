"""``self.pool = layers.AveragePooling2D(2) if self.stride > 1 else tf.identity`` in a
subclass: a layer or nothing, chosen when the layer is made.

The layer arm converts like any sub-layer; the other arm passes its input through unchanged
(``tf.identity``, ``keras.activations.linear``, ``keras.layers.Identity()``, ``lambda t: t``),
which ``nn.Identity()`` does whatever layout the call site feeds it, so ``forward`` calls the
attribute the same way for both. ``__init__`` keeps the choice as an ``if``/``else`` so the
layer's own initializer lines run only when it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.spec import Built, Unsupported
from agent.rules.values import code_of

IDENTITY_FUNCTIONS = frozenset({"tensorflow.identity", "keras.activations.linear"})
IDENTITY_LAYERS = frozenset({"keras.layers.Identity"})


@dataclass(frozen=True)
class Choice:
    """The layer arm's test as the source wrote it, and whether the layer is its true arm."""

    test: str
    layer_when: bool


def _is_identity(node: cst.BaseExpression, imports: ImportTable) -> bool:
    if isinstance(node, cst.Lambda):
        params = node.params.params
        return (len(params) == 1 and not node.params.star_kwarg
                and isinstance(node.params.star_arg, cst.MaybeSentinel)
                and isinstance(node.body, cst.Name) and node.body.value == params[0].name.value)
    if isinstance(node, cst.Call):
        return not node.args and imports.resolve(node.func) in IDENTITY_LAYERS
    return imports.resolve(node) in IDENTITY_FUNCTIONS


def split(value: cst.BaseExpression, imports: ImportTable
          ) -> tuple[cst.Call, Choice] | None:
    """``X(...) if test else <identity>`` (or the mirror): the layer call and its choice."""
    if not isinstance(value, cst.IfExp):
        return None
    for layer_arm, other, when in ((value.body, value.orelse, True),
                                   (value.orelse, value.body, False)):
        if isinstance(layer_arm, cst.Call) and _is_identity(other, imports) \
                and not _is_identity(layer_arm, imports):
            return layer_arm, Choice(code_of(value.test), when)
    return None


def module_lines(attr: str, choice: Choice, built: Built, lines: list[str]) -> list[str]:
    """``lines`` (the layer's module and init statements) under the test, ``nn.Identity()``
    in the other branch. The layer must be one module called as ``self.<attr>(x)``: an
    identity cannot stand in for a forward that does more (a fused activation, a buffer)."""
    if len(built.modules) != 1 or built.modules[0][0] or built.activation \
            or built.forward.replace(" ", "") != "{m}({x})" or built.stmts:
        raise Unsupported(f"self.{attr}: a layer chosen against an identity must be one "
                          "module called on its input")
    layer = "".join(f"    {ln}\n" for line in lines for ln in line.split("\n"))
    identity = f"    self.{attr} = nn.Identity()\n"
    first, second = (layer, identity) if choice.layer_when else (identity, layer)
    return [f"if {choice.test}:\n{first}else:\n{second}".rstrip("\n")]


def guarded(attr: str, lines: list[str]) -> str:
    """Initializer lines of a lazy chosen layer (``keras_init``): only when it was made."""
    body = "".join(f"    {ln}\n" for line in lines for ln in line.split("\n"))
    return f"if not isinstance(self.{attr}, nn.Identity):\n{body}".rstrip("\n")
