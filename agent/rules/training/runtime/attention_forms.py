"""Keras's ``MultiHeadAttention`` as a lazy torch module, copied into converted scripts.

``nn.MultiheadAttention`` needs every input size up front and ``num_heads * key_dim`` equal
to the query size; Keras's layer builds its projections on the first call and allows any
``key_dim``, a separate ``value_dim``, an ``output_shape``, ``attention_axes``, an
``attention_mask`` and the attention scores as a second output. This module is that layer:
kernels in Keras's own shapes (query/key ``(D, heads, key_dim)``, value
``(D, heads, value_dim)``, output ``(heads, value_dim, *out)``), so weights port as they are,
and glorot-uniform kernels with Keras's fans, zero biases.
"""

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

_PARTS = ("query", "key", "value", "output")


def _glorot_uniform_(param: torch.Tensor) -> None:
    """Keras's glorot_uniform: fans from the kernel's last two axes times the rest."""
    shape = tuple(param.shape)
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    fan_in, fan_out = (shape[-2] * receptive, shape[-1] * receptive) if len(shape) >= 2 \
        else (shape[0], shape[0])
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(param, -limit, limit)


class LazyMultiHeadAttention(LazyModuleMixin, nn.Module):
    """``keras.layers.MultiHeadAttention``: called as ``(query, value, key=None,
    attention_mask=None, return_attention_scores=False, use_causal_mask=False)``."""

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None,
                 dropout: float = 0.0, use_bias: bool = True,
                 output_shape: int | tuple[int, ...] | None = None,
                 attention_axes: int | tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = key_dim if value_dim is None else value_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.out_shape = (output_shape,) if isinstance(output_shape, int) else (
            tuple(output_shape) if output_shape is not None else None)
        self.attention_axes = (attention_axes,) if isinstance(attention_axes, int) else (
            tuple(attention_axes) if attention_axes is not None else None)
        for part in _PARTS:
            setattr(self, f"{part}_kernel", nn.parameter.UninitializedParameter())
            setattr(self, f"{part}_bias", nn.parameter.UninitializedParameter()
                    if use_bias else None)

    def reset_parameters(self) -> None:
        if self.has_uninitialized_params():
            return
        with torch.no_grad():
            for part in _PARTS:
                _glorot_uniform_(getattr(self, f"{part}_kernel"))
                bias = getattr(self, f"{part}_bias")
                if bias is not None:
                    nn.init.zeros_(bias)

    def initialize_parameters(self, query: torch.Tensor, value: torch.Tensor,
                              key: torch.Tensor | None = None, *args: Any,
                              **kwargs: Any) -> None:
        """Sizes from the first call: each input's last axis, the output's from the query."""
        key = value if key is None else key
        heads, out = self.num_heads, self.out_shape or (int(query.shape[-1]),)
        shapes = {"query": ((int(query.shape[-1]), heads, self.key_dim), (heads, self.key_dim)),
                  "key": ((int(key.shape[-1]), heads, self.key_dim), (heads, self.key_dim)),
                  "value": ((int(value.shape[-1]), heads, self.value_dim),
                            (heads, self.value_dim)),
                  "output": ((heads, self.value_dim, *out), out)}
        with torch.no_grad():
            for part, (kernel, bias) in shapes.items():
                getattr(self, f"{part}_kernel").materialize(kernel, dtype=query.dtype,
                                                            device=query.device)
                if getattr(self, f"{part}_bias") is not None:
                    getattr(self, f"{part}_bias").materialize(bias, dtype=query.dtype,
                                                              device=query.device)
        self.reset_parameters()

    def _project(self, x: torch.Tensor, part: str) -> torch.Tensor:
        y: torch.Tensor = torch.tensordot(x, getattr(self, f"{part}_kernel"), dims=1)
        bias: torch.Tensor | None = getattr(self, f"{part}_bias")
        return y if bias is None else y + bias

    def forward(self, query: torch.Tensor, value: torch.Tensor,
                key: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                return_attention_scores: bool = False,
                use_causal_mask: bool = False) -> Any:
        key = value if key is None else key
        q, k, v = (self._project(query, "query"), self._project(key, "key"),
                   self._project(value, "value"))  # (B, *axes, heads, dim)
        rank = query.dim()
        axes = tuple(range(1, rank - 1)) if self.attention_axes is None else tuple(
            a % rank for a in self.attention_axes)
        other = [a for a in range(1, rank - 1) if a not in axes]
        perm = [0, *other, rank - 1, *axes, rank]  # attention axes next to the head size
        lead = 2 + len(other)  # (B, *other, heads)

        def flat(t: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
            t = t.permute(perm)
            attended = tuple(t.shape[lead:-1])
            return t.reshape(*t.shape[:lead], math.prod(attended), t.shape[-1]), attended

        (qf, q_axes), (kf, k_axes), (vf, _) = flat(q), flat(k), flat(v)
        qf = qf * (1.0 / math.sqrt(float(self.key_dim)))
        scores = qf @ kf.transpose(-1, -2)  # (B, *other, heads, Tq, Tk)
        full = (*scores.shape[:lead], *q_axes, *k_axes)  # Keras's score shape
        mask = attention_mask
        if mask is not None and mask.dtype != torch.bool:
            mask = mask > 0.5
        if use_causal_mask:  # query i sees keys j <= i (Keras: over axis 1)
            causal = torch.ones(query.shape[1], value.shape[1], dtype=torch.bool,
                                device=query.device).tril()[None]
            mask = causal if mask is None else mask & causal
        if mask is not None:
            while mask.dim() < len(full):  # Keras expands from the heads axis
                mask = mask.unsqueeze(-2 * len(axes) - 1)
            mask = mask.expand(full).reshape(scores.shape)
            big = -3e4 if scores.dtype == torch.float16 else -1e9
            scores = torch.where(mask, scores, torch.full_like(scores, big))
        weights = F.softmax(scores, dim=-1)
        dropped = F.dropout(weights, p=self.dropout, training=self.training) \
            if self.dropout > 0 else weights
        out = dropped @ vf  # (B, *other, heads, Tq, value_dim)
        out = out.reshape(*out.shape[:lead], *q_axes, out.shape[-1])
        out = out.permute([perm.index(d) for d in range(rank + 1)])  # (B, *axes, heads, vd)
        result = torch.tensordot(out, self.output_kernel, dims=2)
        if self.output_bias is not None:
            result = result + self.output_bias
        if return_attention_scores:
            return result, weights.reshape(full)
        return result
