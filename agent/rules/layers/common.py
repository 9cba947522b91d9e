"""Helpers shared by the layer tables: activation and initializer plumbing, axis mapping."""

from __future__ import annotations

from typing import Any

from agent.rules.activations import ACTIVATION_WARNINGS, ACTIVATIONS, RuntimeActivation
from agent.rules.initializers import init_statement
from agent.rules.models.shapes import Dim
from agent.rules.spec import Args, Unsupported

DENSE_LIKE_DEFAULTS: dict[str, Any] = {
    "activation": None,
    "use_bias": True,
    "kernel_initializer": "glorot_uniform",
    "bias_initializer": "zeros",
}

def activation(args: Args, warnings: list[str], name: str = "activation") -> str | None:
    if args.runtime_names and name in args.values and not args.values[name].known:
        args.used.add(name)  # the builder's parameter: Keras's name looked up at run time
        return RuntimeActivation(args.values[name].code)
    value = args.get(name)
    if value is None or value == "linear":
        return None
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise Unsupported(f"activation {value!r} has no torch mapping")
    if value in ACTIVATION_WARNINGS:
        warnings.append(ACTIVATION_WARNINGS[value])
    return value


def weight_inits(args: Args, warnings: list[str], *, weight: str = "{m}.weight",
                 bias: str | None = "{m}.bias", optional_bias: bool = False) -> tuple[str, ...]:
    """Kernel and bias init statements.

    ``optional_bias``: torch types the bias as ``Tensor | None`` (convolutions), so mypy needs
    the ``assert`` that ``use_bias=True`` guarantees.
    """
    out = [init_statement(args, "kernel_initializer", weight, warnings)]
    if bias is not None and args.get("use_bias"):
        if optional_bias:
            out.append(f"assert {bias} is not None")
        out.append(init_statement(args, "bias_initializer", bias, warnings))
    return tuple(out)


def dim_code(d: Dim) -> str:
    if d is None:
        raise Unsupported("dimension unknown at conversion time")
    return str(d)


def keras_axis(axis: int, rank: int) -> int:
    """Normalise a Keras axis (counting the batch axis) to a non-negative index."""
    full = rank + 1
    if not -full <= axis < full:
        raise Unsupported(f"axis {axis} out of range for rank {rank}")
    return axis % full


def torch_axis(axis: int, rank: int, layout: str) -> int:
    """Where Keras axis ``axis`` of a rank-``rank`` (no batch) tensor lives in ``layout``."""
    k = keras_axis(axis, rank)
    if layout != "cf" or rank < 2 or k == 0:
        return k
    if k == rank:  # the channel axis
        return 1
    return k + 1


def signed_axis(axis: int, rank: int, layout: str) -> int:
    """Like torch_axis but written as a negative index where that reads better (-1)."""
    t = torch_axis(axis, rank, layout)
    return -1 if t == rank else t
