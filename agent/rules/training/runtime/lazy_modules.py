"""Lazy forms torch lacks, copied into converted scripts that use them.

Keras builds ``LayerNormalization`` on its first input; torch's ``nn.LayerNorm`` wants the
normalized size up front and has no ``nn.Lazy*`` form. ``LazyLayerNorm`` is that form, on
torch's own lazy machinery: the first forward materializes the parameters and the module
becomes a plain ``nn.LayerNorm`` (so weight porting and ``state_dict`` see the usual one).
"""

from collections.abc import Callable
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


class _LazyRecurrent(LazyModuleMixin):
    """An ``nn.LSTM``/``nn.GRU``/``nn.RNN`` whose input size is read from the first input:
    Keras builds recurrent layers on first call, torch has no lazy form of them. Only the
    first layer's input weights depend on that size."""

    _flat_weights_names: list[str]
    hidden_size: int
    input_size: int

    def _make_lazy(self) -> None:
        self.input_size = 0
        for name in self._flat_weights_names:
            if name.startswith("weight_ih_l0"):
                setattr(self, name, nn.parameter.UninitializedParameter())

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params():  # type: ignore[misc]
            super().reset_parameters()  # type: ignore[misc]

    def initialize_parameters(self, x: torch.Tensor, hx: Any = None) -> None:
        """The input size is the first input's last axis (batch-first sequences)."""
        self.input_size = int(x.shape[-1])
        with torch.no_grad():
            for name in self._flat_weights_names:
                param = getattr(self, name)
                if name.startswith("weight_ih_l0") and isinstance(
                        param, nn.parameter.UninitializedParameter):
                    gates = getattr(self, name.replace("_ih_", "_hh_")).shape[0]
                    param.materialize((gates, self.input_size))
            self._init_flat_weights()  # type: ignore[attr-defined]
            self.reset_parameters()


class LazyLSTM(_LazyRecurrent, nn.LSTM):
    """``nn.LSTM`` whose input size comes from the first batch."""

    cls_to_become = nn.LSTM

    def __init__(self, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(1, hidden_size, **kwargs)  # 1: replaced on the first batch
        self._make_lazy()


class LazyGRU(_LazyRecurrent, nn.GRU):
    """``nn.GRU`` whose input size comes from the first batch."""

    cls_to_become = nn.GRU

    def __init__(self, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(1, hidden_size, **kwargs)  # 1: replaced on the first batch
        self._make_lazy()


class LazyRNN(_LazyRecurrent, nn.RNN):
    """``nn.RNN`` whose input size comes from the first batch."""

    cls_to_become = nn.RNN

    def __init__(self, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(1, hidden_size, **kwargs)  # 1: replaced on the first batch
        self._make_lazy()


def init_on_first_batch(module: nn.Module, init: Callable[[nn.Module], None]) -> None:
    """Run ``init`` (Keras's initializers) on a lazy module once the first batch has given
    it its sizes: the hook runs after torch's own lazy hook, then removes itself."""

    def hook(m: nn.Module, args: Any) -> None:
        handle.remove()
        with torch.no_grad():
            init(m)

    handle = module.register_forward_pre_hook(hook)
