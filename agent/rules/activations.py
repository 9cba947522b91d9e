"""Keras activation names → torch expressions (Keras 3 semantics).

``{x}`` is the input expression, ``{dim}`` the channel axis for softmax-like activations.
The module form is used where an activation must be a layer (``nn.Sequential``).
"""

from __future__ import annotations

ACTIVATIONS: dict[str, str] = {
    "linear": "{x}",
    "relu": "F.relu({x})",
    "relu6": "F.relu6({x})",
    "sigmoid": "torch.sigmoid({x})",
    "tanh": "torch.tanh({x})",
    "softmax": "F.softmax({x}, dim={dim})",
    "log_softmax": "F.log_softmax({x}, dim={dim})",
    "elu": "F.elu({x})",
    "selu": "F.selu({x})",
    "gelu": "F.gelu({x})",  # Keras 3 gelu defaults to approximate=False, as torch
    "silu": "F.silu({x})",
    "swish": "F.silu({x})",
    "softplus": "F.softplus({x})",
    "softsign": "F.softsign({x})",
    "exponential": "torch.exp({x})",
    "hard_sigmoid": "F.hardsigmoid({x})",  # Keras 3: relu6(x + 3) / 6, as torch
    "hard_silu": "F.hardswish({x})",
    "hard_swish": "F.hardswish({x})",
    "mish": "F.mish({x})",
    "leaky_relu": "F.leaky_relu({x}, negative_slope=0.2)",  # keras.activations default 0.2
    "tanh_shrink": "F.tanhshrink({x})",
    "softmax_v2": "F.softmax({x}, dim={dim})",
}

# Keras 2 code often means the old piecewise-linear hard_sigmoid; we follow Keras 3 and warn.
ACTIVATION_WARNINGS: dict[str, str] = {
    "hard_sigmoid": "hard_sigmoid follows Keras 3 (relu6(x+3)/6); Keras 2 used clip(0.2x+0.5, 0, 1)",
}

# Qualified Keras function names that may be passed instead of strings.
ACTIVATION_FUNCTIONS: dict[str, str] = {
    f"keras.activations.{name}": name for name in ACTIVATIONS
} | {"tensorflow.nn.relu": "relu", "tensorflow.nn.sigmoid": "sigmoid",
     "tensorflow.nn.tanh": "tanh", "tensorflow.nn.softmax": "softmax",
     "tensorflow.nn.gelu": "gelu", "tensorflow.nn.swish": "swish",
     "tensorflow.nn.silu": "silu", "tensorflow.nn.elu": "elu", "tensorflow.nn.selu": "selu",
     "tensorflow.nn.relu6": "relu6", "tensorflow.nn.softplus": "softplus",
     "tensorflow.math.sigmoid": "sigmoid", "tensorflow.math.tanh": "tanh",
     "tensorflow.sigmoid": "sigmoid", "tensorflow.tanh": "tanh"}


class RuntimeActivation(str):
    """An activation known only at run time (``activation=act``, a builder parameter the calls
    set differently): the code ``activation_by_name(act)``, the copied runtime lookup that
    gives what Keras's ``activations.get(act)`` gives (the same table custom layers use)."""

    code: str  # the source's expression (``act``)

    def __new__(cls, code: str) -> RuntimeActivation:
        obj = super().__new__(cls, f"activation_by_name({code})")
        obj.code = code
        return obj

    @property
    def module(self) -> str:
        """The same lookup as a module, for an ``nn.Sequential``."""
        return f"KerasActivation({self.code})"


def apply(name: str | None, expr: str, dim: int = -1) -> str:
    """Wrap ``expr`` in activation ``name``; raises KeyError for unknown names."""
    if name is None or name == "linear":
        return expr
    if isinstance(name, RuntimeActivation):
        return f"{name}({expr})"
    return ACTIVATIONS[name].format(x=expr, dim=dim)
