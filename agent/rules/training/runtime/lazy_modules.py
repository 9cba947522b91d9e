"""Lazy forms torch lacks, copied into converted scripts that use them.

Keras builds ``LayerNormalization`` on its first input; torch's ``nn.LayerNorm`` wants the
normalized size up front and has no ``nn.Lazy*`` form. ``LazyLayerNorm`` is that form, on
torch's own lazy machinery: the first forward materializes the parameters and the module
becomes a plain ``nn.LayerNorm`` (so weight porting and ``state_dict`` see the usual one).
"""

from typing import Any

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin


class LazyLayerNorm(LazyModuleMixin, nn.LayerNorm):
    """``nn.LayerNorm`` over the last axis whose size is read from the first input."""

    cls_to_become = nn.LayerNorm
    weight: Any
    bias: Any

    def __init__(self, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True) -> None:
        super().__init__(0, eps=eps, elementwise_affine=False)
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.parameter.UninitializedParameter()
            self.bias = nn.parameter.UninitializedParameter() if bias else None

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.normalized_shape != (0,):
            super().reset_parameters()

    def initialize_parameters(self, x: torch.Tensor) -> None:
        """The normalized size is the first input's last axis."""
        self.normalized_shape = (int(x.shape[-1]),)
        if self.has_uninitialized_params():
            with torch.no_grad():
                self.weight.materialize(self.normalized_shape)
                if self.bias is not None:
                    self.bias.materialize(self.normalized_shape)
                self.reset_parameters()
