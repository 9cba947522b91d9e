"""The example input's size along an open axis (``Input(shape=(None,))``): long enough for
the model's windows.

A model over sequences or images of any size gets an example input of 8 steps (or 8 × 8
pixels) where the shape says None. Two valid 1D convolutions of kernel 7 and stride 3 need at
least 25 steps, so such a model could not run on its own example input (Lightning's summary,
the checks). The sizes are traced through the model's windowed layers (convolutions and
pooling, channels last, read from their literal arguments) for 8, 16, 32, ... steps, and the
first size that leaves every window at least one step is used. A layer the trace cannot
follow stops it on that branch (its size stays what it was); an argument that is not a
literal leaves 8, as before. Only the example input changes: no layer is sized from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from agent.rules.models.graph import ModelIR
from agent.rules.spec import Args

DEFAULT = 8
CANDIDATES = (8, 16, 32, 64, 128, 256, 512, 1024)
_CONV = frozenset({"Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D",
                   "DepthwiseConv1D", "DepthwiseConv2D", "Convolution1D", "Convolution2D"})
_POOL = frozenset({"MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
                   "AveragePooling2D", "AveragePooling3D", "MaxPool1D", "MaxPool2D",
                   "MaxPool3D", "AvgPool1D", "AvgPool2D", "AvgPool3D"})
Sizes = list[int | None]  # per axis (Keras order, no batch): the traced size, None if fixed


def _literal(args: Args, name: str) -> Any:
    """The argument's static value (explicit or Keras's default) without marking it used;
    ``...`` when it is not a literal."""
    if name in args.values:
        v = args.values[name]
        return v.value if v.known else ...
    return args.defaults.get(name)


def _per_axis(value: Any, n: int) -> list[int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value] * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def _windowed(kind: str, args: Args, sizes: Sizes) -> Sizes | None:
    """The sizes after one convolution or pooling layer; None when the trace cannot say."""
    n = len(sizes) - 1  # spatial axes, channels last
    if n < 1:
        return None
    conv = kind in _CONV
    window = _per_axis(_literal(args, "kernel_size" if conv else "pool_size"), n)
    stride_arg = _literal(args, "strides")
    strides = _per_axis(stride_arg if stride_arg is not None else (1 if conv else window), n)
    dilation = _per_axis(_literal(args, "dilation_rate") if conv else 1, n) or [1] * n
    padding = _literal(args, "padding")
    if window is None or strides is None or padding not in ("valid", "same", "causal"):
        return None
    out: Sizes = []
    for k, size in enumerate(sizes[:-1]):
        if size is None:
            out.append(None)
            continue
        span = dilation[k] * (window[k] - 1) + 1
        if padding == "valid":
            out.append((size - span) // strides[k] + 1 if size >= span else 0)
        else:
            out.append(math.ceil(size / strides[k]))
    return out + [sizes[-1]]


def _fits(ir: ModelIR, size: int) -> bool:
    """Whether every traced window keeps at least one step with ``size`` on open axes."""
    traced: dict[int, Sizes] = {}
    for t in ir.inputs:
        if t.shape is not None and None in t.shape:
            traced[id(t)] = [size if d is None else None for d in t.shape]
    for call in ir.calls:
        ins = [traced[id(t)] for t in call.inputs if id(t) in traced]
        if not ins:
            continue
        sizes = ins[0]
        layer = call.layer
        kind = layer.keras_name
        if (kind in _CONV or kind in _POOL) and layer.args is not None:
            out = _windowed(kind, layer.args, sizes)
            if out is None:
                continue
            if any(s is not None and s < 1 for s in out):
                return False
            _follow(traced, call.outputs, out)
        else:
            _follow(traced, call.outputs, sizes)
    return True


def _follow(traced: dict[int, Sizes], outputs: Sequence[Any], sizes: Sizes) -> None:
    """Outputs of the same rank keep the traced sizes (a Dense, a Dropout), an Embedding's
    extra feature axis is fixed; any other rank (global pooling, Flatten) or an unknown shape
    ends the trace."""
    for t in outputs:
        shape = getattr(t, "shape", None)
        if shape is not None and len(shape) == len(sizes):
            traced[id(t)] = list(sizes)
        elif shape is not None and len(shape) == len(sizes) + 1:
            traced[id(t)] = [*sizes, None]


def example_size(ir: ModelIR) -> int:
    """The smallest candidate size for the open axes of ``ir``'s inputs that every window
    the trace follows accepts; 8 when none does or nothing is open."""
    if not any(t.shape is not None and None in t.shape for t in ir.inputs):
        return DEFAULT
    return next((s for s in CANDIDATES if _fits(ir, s)), DEFAULT)
