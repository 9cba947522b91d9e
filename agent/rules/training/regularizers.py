"""Keras weight regularizers → penalty terms added to the loss, as Keras adds them.

``kernel_regularizer=l2(1e-4)`` is not weight decay: Keras adds λ·Σw² for that one layer to
the loss it reports and differentiates. The converted model gets a ``regularization_loss()``
method summing these terms, and its training/validation steps add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

from agent.rules.values import evaluate

# canonical function/class → (keyword for l1, keyword for l2, default l1, default l2)
_FACTORIES: dict[str, tuple[float, float]] = {
    "keras.regularizers.l1": (0.01, 0.0), "keras.regularizers.L1": (0.01, 0.0),
    "keras.regularizers.l2": (0.0, 0.01), "keras.regularizers.L2": (0.0, 0.01),
    "keras.regularizers.l1_l2": (0.01, 0.01), "keras.regularizers.L1L2": (0.0, 0.0),
}
_STRINGS = {"l1": (0.01, 0.0), "l2": (0.0, 0.01), "l1_l2": (0.01, 0.01)}
# which argument of which layer regularizes which torch parameter
REGULARIZED = {"kernel_regularizer": "weight", "bias_regularizer": "bias",
               "embeddings_regularizer": "weight"}


@dataclass(frozen=True)
class Penalty:
    """Coefficients as code: a literal (``0.0001``) or a constructor parameter (``l2``)."""

    l1: str | None
    l2: str | None

    def term(self, param: str, hparams: set[str]) -> str:
        def coef(code: str) -> str:
            return f'self.hparams["{code}"]' if code in hparams else code

        parts = []
        if self.l1:
            parts.append(f"{coef(self.l1)} * {param}.abs().sum()")
        if self.l2:
            parts.append(f"{coef(self.l2)} * {param}.square().sum()")
        return " + ".join(parts)


def parse(node: cst.BaseExpression, qualname: str | None, env: dict[str, Any]) -> Penalty | None:
    """The penalty a regularizer expression means, or None if it is not a plain one."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        pair = _STRINGS.get(value) if isinstance(value, str) else None
        return Penalty(*(repr(v) if v else None for v in pair)) if pair else None
    if not isinstance(node, cst.Call) or qualname not in _FACTORIES:
        return None
    l1, l2 = _FACTORIES[qualname]
    positional = [a for a in node.args if a.keyword is None]
    keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
    single = "l1" if l1 and not l2 else "l2"
    names = ["l1", "l2"] if qualname.endswith(("l1_l2", "L1L2")) else [single]
    values: dict[str, str | None] = {"l1": repr(l1) if l1 else None,
                                     "l2": repr(l2) if l2 else None}
    for name, arg in zip(names, positional, strict=False):
        values[name] = _coefficient(arg.value, env)
    for key, arg_node in keywords.items():
        name = {"l": single}.get(key, key)
        if name not in values:
            return None
        values[name] = _coefficient(arg_node, env)
    if any(v == "" for v in values.values()):
        return None
    return Penalty(values["l1"], values["l2"])


def _coefficient(node: cst.BaseExpression, env: dict[str, Any]) -> str:
    """A number's code, a plain name (a constructor parameter), or "" when neither."""
    v = evaluate(node, env)
    if v.known and isinstance(v.value, (int, float)):
        return repr(float(v.value))
    return node.value if isinstance(node, cst.Name) else ""
