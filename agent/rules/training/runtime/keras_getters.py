"""Keras's ``activations.get`` / ``initializers.get`` / ``regularizers.get`` for torch code.

A configurable custom layer stores what its constructor was given
(``self.kernel_initializer = keras.initializers.get(kernel_initializer)``) and uses it in
``build``/``call``; the value is only known at run time. These functions give the torch
counterpart of each identifier Keras accepts by name, with Keras's math (fans computed from
the Keras-ordered weight shape, normal draws truncated at 2σ as Keras draws them). Copied into
converted scripts that use them; an identifier they do not reproduce raises ``ValueError``.
"""

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@functools.cache
def _activation_table() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Keras's activation names -> torch functions, made once (``activation_name_of`` finds
    them by identity). Tables are functions, not module constants: a tool that loads only a
    script's definitions (imports, functions, classes, literal constants) finds them too."""
    return {
        "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
        "softmax": lambda t: torch.softmax(t, dim=-1),
        "log_softmax": lambda t: F.log_softmax(t, dim=-1),
        "elu": F.elu, "selu": F.selu, "softplus": F.softplus, "softsign": F.softsign,
        "swish": F.silu, "silu": F.silu, "gelu": F.gelu, "exponential": torch.exp,
        "hard_sigmoid": F.hardsigmoid, "relu6": F.relu6, "mish": F.mish,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "linear": lambda t: t,
    }


def _variance_scaling_presets() -> dict[str, tuple[float, str, str]]:
    """Name -> (scale, mode, distribution) of Keras's variance-scaling presets."""
    return {
        "glorot_uniform": (1.0, "fan_avg", "uniform"),
        "glorot_normal": (1.0, "fan_avg", "normal"),
        "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "normal"),
        "lecun_uniform": (1.0, "fan_in", "uniform"), "lecun_normal": (1.0, "fan_in", "normal"),
    }


def activation_by_name(identifier: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """Keras's ``activations.get``: None and "linear" are the identity."""
    table = _activation_table()
    if identifier is None:
        return table["linear"]
    if callable(identifier):
        return identifier  # type: ignore[no-any-return]
    if identifier not in table:
        raise ValueError(f"Keras activation {identifier!r} is not reproduced here")
    return table[identifier]


class KerasActivation(nn.Module):
    """``activation_by_name(identifier)`` as a module, for an ``nn.Sequential``."""

    def __init__(self, identifier: Any) -> None:
        super().__init__()
        self.fn = activation_by_name(identifier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def activation_name_of(fn: Callable[[torch.Tensor], torch.Tensor]) -> str:
    """Keras's ``activations.serialize`` of what ``activation_by_name`` gave: its Keras name
    ("silu" for swish too, as Keras 3 names it); another function by its own name."""
    for name, known in reversed(_activation_table().items()):
        if known is fn:
            return name
    return str(getattr(fn, "__name__", fn))


def _fans_of(shape: tuple[int, ...]) -> tuple[float, float]:
    """Keras's fans: the last two axes are (in, out), the others a receptive field."""
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _snake_case(name: str) -> str:
    """"GlorotUniform" -> "glorot_uniform" (Keras accepts either spelling)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def initializer_by_name(identifier: Any) -> Callable[[torch.Tensor], None]:
    """Keras's ``initializers.get``: a function that fills a weight in place, as Keras would."""
    if callable(identifier):
        def from_function(t: torch.Tensor) -> None:  # Keras's protocol: f(shape, dtype)
            with torch.no_grad():
                t.copy_(torch.as_tensor(identifier(tuple(t.shape)), dtype=t.dtype))
        return from_function
    name = _snake_case(str(identifier))

    def init(t: torch.Tensor) -> None:
        with torch.no_grad():
            presets = _variance_scaling_presets()
            if name in presets:
                scale, mode, distribution = presets[name]
                fan_in, fan_out = _fans_of(tuple(t.shape))
                n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
                scale /= max(1.0, n[mode])
                if distribution == "uniform":
                    limit = math.sqrt(3.0 * scale)
                    nn.init.uniform_(t, -limit, limit)
                else:
                    std = math.sqrt(scale) / 0.87962566103423978
                    nn.init.trunc_normal_(t, 0.0, std, -2 * std, 2 * std)
            elif name == "zeros":
                nn.init.zeros_(t)
            elif name == "ones":
                nn.init.ones_(t)
            elif name == "random_normal":
                nn.init.normal_(t, 0.0, 0.05)
            elif name == "random_uniform":
                nn.init.uniform_(t, -0.05, 0.05)
            elif name == "truncated_normal":
                nn.init.trunc_normal_(t, 0.0, 0.05, -0.1, 0.1)
            elif name == "identity" and t.dim() == 2:  # Keras's 2-D eye, gain 1
                t.copy_(torch.eye(*t.shape, dtype=t.dtype))
            else:
                raise ValueError(f"Keras initializer {identifier!r} is not reproduced here")
    return init


def regularizer_by_name(identifier: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Keras's ``regularizers.get``: the penalty Keras adds to the loss for a weight, or None."""
    if identifier is None or callable(identifier):
        return identifier  # type: ignore[no-any-return]
    coefficients = {"l1": (0.01, 0.0), "l2": (0.0, 0.01), "l1_l2": (0.01, 0.01)}
    if identifier not in coefficients:
        raise ValueError(f"Keras regularizer {identifier!r} is not reproduced here")
    l1, l2 = coefficients[identifier]

    def penalty(w: torch.Tensor) -> torch.Tensor:
        return l1 * w.abs().sum() + l2 * w.square().sum()
    return penalty
