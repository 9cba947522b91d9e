"""Recurrent layers torch's fused kernels cannot express, copied into converted scripts.

``nn.LSTM`` is tanh/sigmoid only; Keras's ``LSTM(activation="relu")`` is common in
forecasting code. ``ActivatedLSTM`` is an ``nn.LSTM`` (same parameters, same names, so weight
porting and checkpoints treat it as one) whose forward runs Keras's cell step by step with the
activations it was given. Gate order i, f, c, o is Keras's and torch's alike.
"""

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .lazy_modules import _LazyRecurrent


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Keras's activation ``name`` as a torch function (a lookup in a function, not a
    module-level table: a tool that loads only a script's definitions finds it too)."""
    return {
        "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "elu": F.elu,
        "selu": F.selu, "softsign": F.softsign, "softplus": F.softplus, "swish": F.silu,
        "silu": F.silu, "gelu": F.gelu, "linear": lambda t: t,
        "hard_sigmoid": F.hardsigmoid,  # Keras 3: relu6(x + 3) / 6, torch's own
    }[name]


class ActivatedLSTM(nn.LSTM):
    """One-layer, one-direction, batch-first ``nn.LSTM`` with Keras's activations."""

    weight_ih_l0: torch.Tensor
    weight_hh_l0: torch.Tensor
    bias_ih_l0: torch.Tensor
    bias_hh_l0: torch.Tensor

    def __init__(self, input_size: int, hidden_size: int, *, activation: str = "tanh",
                 recurrent_activation: str = "sigmoid", bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias=bias, batch_first=True)
        self.activation = _activation(activation)
        self.recurrent_activation = _activation(recurrent_activation)

    def forward(self, input: torch.Tensor,  # type: ignore[override]  # noqa: A002
                hx: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """nn.LSTM's inputs and outputs: (batch, time, features), states (1, batch, units)."""
        batch = input.size(0)
        if hx is None:
            h = input.new_zeros(batch, self.hidden_size)
            c = input.new_zeros(batch, self.hidden_size)
        else:
            h, c = hx[0][0], hx[1][0]
        x = F.linear(input, self.weight_ih_l0, self.bias_ih_l0 if self.bias else None)
        outputs = []
        for t in range(input.size(1)):
            gates = x[:, t] + F.linear(h, self.weight_hh_l0,
                                       self.bias_hh_l0 if self.bias else None)
            i, f, g, o = gates.chunk(4, dim=1)
            c = self.recurrent_activation(f) * c \
                + self.recurrent_activation(i) * self.activation(g)
            h = self.recurrent_activation(o) * self.activation(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h.unsqueeze(0), c.unsqueeze(0))


class ResetBeforeGRU(nn.GRU):
    """One-layer, one-direction, batch-first ``nn.GRU`` with Keras's ``reset_after=False``.

    Keras 2's GRU applies the reset gate to the previous state *before* the recurrent
    matmul of the candidate (``(r * h) @ U_h``); cuDNN and ``nn.GRU`` apply it after. Same
    parameters as ``nn.GRU`` (gates r, z, n); Keras's one bias goes to ``bias_ih_l0``.
    """

    reset_after = False
    weight_ih_l0: torch.Tensor
    weight_hh_l0: torch.Tensor
    bias_ih_l0: torch.Tensor
    bias_hh_l0: torch.Tensor

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias=bias, batch_first=True)

    def forward(self, input: torch.Tensor,  # type: ignore[override]  # noqa: A002
                hx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """nn.GRU's inputs and outputs: (batch, time, features), state (1, batch, units)."""
        h = input.new_zeros(input.size(0), self.hidden_size) if hx is None else hx[0]
        x = F.linear(input, self.weight_ih_l0, self.bias_ih_l0 if self.bias else None)
        w_r, w_z, w_n = self.weight_hh_l0.chunk(3, dim=0)
        b_r, b_z, b_n = (self.bias_hh_l0.chunk(3) if self.bias else (None, None, None))
        outputs = []
        for t in range(input.size(1)):
            x_r, x_z, x_n = x[:, t].chunk(3, dim=1)
            r = torch.sigmoid(x_r + F.linear(h, w_r, b_r))
            z = torch.sigmoid(x_z + F.linear(h, w_z, b_z))
            n = torch.tanh(x_n + F.linear(r * h, w_n, b_n))
            h = z * h + (1 - z) * n
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)


class LazyActivatedLSTM(_LazyRecurrent, ActivatedLSTM):
    """``ActivatedLSTM`` (Keras's LSTM cell with other activations) sized by the first batch."""

    cls_to_become = ActivatedLSTM

    def __init__(self, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(1, hidden_size, **kwargs)  # 1: replaced on the first batch
        self._make_lazy()


class LazyResetBeforeGRU(_LazyRecurrent, ResetBeforeGRU):
    """``ResetBeforeGRU`` (Keras 2's GRU cell) sized by the first batch."""

    cls_to_become = ResetBeforeGRU

    def __init__(self, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(1, hidden_size, **kwargs)  # 1: replaced on the first batch
        self._make_lazy()


def rnn_state_outputs(result: tuple[torch.Tensor, Any], return_sequences: bool
                      ) -> list[torch.Tensor]:
    """Keras's ``[output, *states]`` of a ``return_state`` RNN from torch's ``(output,
    state)`` or ``(output, (h, c))``: the last step unless ``return_sequences``, each state
    of the (one) layer without its layer axis."""
    output, states = result
    last = output if return_sequences else output[:, -1]
    if isinstance(states, tuple):
        return [last, *(s[-1] for s in states)]
    return [last, states[-1]]
