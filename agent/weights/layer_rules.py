"""Weight-port rules for the layers added in activation_layers / reshaping / separable /
attention; merged into ``agent.weights.engine.PORTS`` (each takes the Keras layer, the torch
child that receives it, and a ``where`` label for errors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from agent.weights.base import PortError, PortRule, _set, _weights


def _separable(layer: Any, m: nn.Module, where: str) -> None:
    """nn.Sequential(depthwise ConvNd(groups=in), pointwise 1x1 ConvNd), N = 1 or 2."""
    w = _weights(layer)
    if not isinstance(m, nn.Sequential) or len(m) != 2:
        raise PortError(f"{where}: expected nn.Sequential(depthwise, pointwise)")
    depthwise, pointwise = m[0], m[1]
    convs = (nn.Conv1d, nn.Conv2d)
    if not isinstance(depthwise, convs) or not isinstance(pointwise, convs):
        raise PortError(f"{where}: expected two convolutions in the nn.Sequential")
    dw, pw = w["depthwise_kernel"], w["pointwise_kernel"]
    *k, cin, mult = dw.shape
    r = len(k)
    flat = dw.reshape(*k, cin * mult)  # channel c, multiplier j -> c * mult + j
    _set(depthwise.weight, np.transpose(flat, (r, *range(r)))[:, None], where)
    _set(pointwise.weight, np.transpose(pw, (r + 1, r, *range(r))), where)
    if "bias" in w:
        _set(pointwise.bias, w["bias"], where)


def time_distributed(lookup: Callable[[Any], PortRule | None]) -> PortRule:
    """The wrapped layer's own rule (found by ``lookup``), applied to the same torch module."""

    def port(layer: Any, m: nn.Module, where: str) -> None:
        inner = layer.layer
        rule = lookup(inner)
        if rule is None:
            raise PortError(f"{where}: no weight rule for TimeDistributed({type(inner).__name__})")
        rule(inner, m, where)

    return port


def _lazy_mha(layer: Any, m: nn.Module, where: str) -> None:
    for part in ("query", "key", "value", "output"):
        w = _weights(getattr(layer, f"{part}_dense"))
        _set(getattr(m, f"{part}_kernel"), w["kernel"], where)
        bias = getattr(m, f"{part}_bias")
        if (bias is None) != ("bias" not in w):
            raise PortError(f"{where}: {part} bias on one side only")
        if bias is not None:
            _set(bias, w["bias"], where)


def _mha(layer: Any, m: nn.Module, where: str) -> None:
    """Keras q/k/v kernels (D, heads, key_dim) → packed (E, D) rows, head-major like torch;
    the runtime LazyMultiHeadAttention keeps Keras's shapes and takes them as they are."""
    if isinstance(getattr(m, "query_kernel", None), nn.Parameter):
        _lazy_mha(layer, m, where)
        return
    if not isinstance(m, nn.MultiheadAttention):
        raise PortError(f"{where}: expected nn.MultiheadAttention")
    parts = {}
    for name in ("query", "key", "value"):
        sub = getattr(layer, f"{name}_dense")
        w = _weights(sub)
        kernel = w["kernel"]
        parts[name] = (kernel.reshape(kernel.shape[0], -1).T,
                       w["bias"].reshape(-1) if "bias" in w else None)
    if m.in_proj_weight is not None:
        _set(m.in_proj_weight, np.concatenate([parts[n][0] for n in ("query", "key", "value")]),
             where)
    else:
        _set(m.q_proj_weight, parts["query"][0], where)
        _set(m.k_proj_weight, parts["key"][0], where)
        _set(m.v_proj_weight, parts["value"][0], where)
    biases = [parts[n][1] for n in ("query", "key", "value")]
    if m.in_proj_bias is not None:
        if any(b is None for b in biases):
            raise PortError(f"{where}: Keras layer has no q/k/v bias, torch module has one")
        _set(m.in_proj_bias, np.concatenate(biases), where)  # type: ignore[arg-type]
    out = _weights(layer.output_dense)
    kernel = out["kernel"]  # (heads, value_dim, D)
    _set(m.out_proj.weight, kernel.reshape(-1, kernel.shape[-1]).T, where)
    if "bias" in out:
        _set(m.out_proj.bias, out["bias"], where)


def _conv_lstm(layer: Any, m: nn.Module, where: str) -> None:
    """Keras (kh, kw, in, 4 * filters) kernels → (4 * filters, in, kh, kw); gates i, f, c, o
    in the same order on both sides."""
    w = _weights(layer)
    _set(getattr(m, "weight_ih", None), np.transpose(w["kernel"], (3, 2, 0, 1)), where)
    _set(getattr(m, "weight_hh", None), np.transpose(w["recurrent_kernel"], (3, 2, 0, 1)), where)
    bias = getattr(m, "bias", None)
    if (bias is None) != ("bias" not in w):
        raise PortError(f"{where}: bias on one side only")
    if bias is not None:
        _set(bias, w["bias"], where)


EXTRA_PORTS: dict[str, PortRule] = {
    "conv_lstm": _conv_lstm,
    "separable": _separable,
    "multi_head_attention": _mha,
}
