"""Keras's ``dropout``/``recurrent_dropout`` of LSTM and GRU, copied into converted scripts.

With ``recurrent_dropout`` Keras runs its cell step by step and, in training only, multiplies
the inputs and the previous state by dropout masks drawn once per batch (the same mask at
every step), one mask per gate. ``nn.LSTM``/``nn.GRU`` have no such masks. These classes are
the torch modules (same parameters and names, so weight porting and checkpoints treat them as
``nn.LSTM``/``nn.GRU``); in eval mode they run torch's fused kernel, in training mode Keras's
masked step loop. One layer, one direction, batch first. ``bidirectional_input_dropout`` runs
a bidirectional ``nn.LSTM``/``nn.GRU`` under Keras's Bidirectional input dropout (a mask per
direction).
"""

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .lazy_modules import _LazyRecurrent


def _gate_masks(like: torch.Tensor, gates: int, rate: float) -> torch.Tensor:
    """(gates, batch, size) dropout masks, scaled as Keras's (kept values / (1 - rate))."""
    ones = like.new_ones(gates, *like.shape)
    return F.dropout(ones, p=rate, training=True) if rate > 0 else ones


class GateDropoutLSTM(nn.LSTM):
    """``nn.LSTM`` with Keras's per-gate input and recurrent dropout masks (gates i, f, c, o)."""

    weight_ih_l0: torch.Tensor
    weight_hh_l0: torch.Tensor
    bias_ih_l0: torch.Tensor
    bias_hh_l0: torch.Tensor

    def __init__(self, input_size: int, hidden_size: int, *, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias=bias, batch_first=True)
        self.input_dropout = dropout  # nn.LSTM's own ``dropout`` acts between layers
        self.recurrent_dropout = recurrent_dropout

    def forward(self, input: torch.Tensor,  # type: ignore[override]  # noqa: A002
                hx: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """nn.LSTM's inputs and outputs: (batch, time, features), states (1, batch, units)."""
        if not self.training or not (self.input_dropout or self.recurrent_dropout):
            return super().forward(input, hx)
        batch, units = input.size(0), self.hidden_size
        h = input.new_zeros(batch, units) if hx is None else hx[0][0]
        c = input.new_zeros(batch, units) if hx is None else hx[1][0]
        in_masks = _gate_masks(input[:, 0], 4, self.input_dropout)
        rec_masks = _gate_masks(h, 4, self.recurrent_dropout)
        w_ih, w_hh = self.weight_ih_l0.chunk(4), self.weight_hh_l0.chunk(4)
        b_ih = self.bias_ih_l0.chunk(4) if self.bias else (None,) * 4
        b_hh = self.bias_hh_l0.chunk(4) if self.bias else (None,) * 4
        xs = [F.linear(input * in_masks[g].unsqueeze(1), w_ih[g], b_ih[g]) for g in range(4)]
        outputs = []
        for t in range(input.size(1)):
            i, f, g, o = (xs[k][:, t] + F.linear(h * rec_masks[k], w_hh[k], b_hh[k])
                          for k in range(4))
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h.unsqueeze(0), c.unsqueeze(0))


class GateDropoutGRU(nn.GRU):
    """``nn.GRU`` with Keras's per-gate input and recurrent dropout masks (torch's gates r, z,
    n; Keras's ``reset_after=True`` cell). The new state mixes the unmasked previous state."""

    weight_ih_l0: torch.Tensor
    weight_hh_l0: torch.Tensor
    bias_ih_l0: torch.Tensor
    bias_hh_l0: torch.Tensor

    def __init__(self, input_size: int, hidden_size: int, *, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias=bias, batch_first=True)
        self.input_dropout = dropout  # nn.GRU's own ``dropout`` acts between layers
        self.recurrent_dropout = recurrent_dropout

    def forward(self, input: torch.Tensor,  # type: ignore[override]  # noqa: A002
                hx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """nn.GRU's inputs and outputs: (batch, time, features), state (1, batch, units)."""
        if not self.training or not (self.input_dropout or self.recurrent_dropout):
            return super().forward(input, hx)
        h = input.new_zeros(input.size(0), self.hidden_size) if hx is None else hx[0]
        in_masks = _gate_masks(input[:, 0], 3, self.input_dropout)
        rec_masks = _gate_masks(h, 3, self.recurrent_dropout)
        w_ih, w_hh = self.weight_ih_l0.chunk(3), self.weight_hh_l0.chunk(3)
        b_ih = self.bias_ih_l0.chunk(3) if self.bias else (None,) * 3
        b_hh = self.bias_hh_l0.chunk(3) if self.bias else (None,) * 3
        xs = [F.linear(input * in_masks[g].unsqueeze(1), w_ih[g], b_ih[g]) for g in range(3)]
        outputs = []
        for t in range(input.size(1)):
            r, z = (torch.sigmoid(xs[k][:, t] + F.linear(h * rec_masks[k], w_hh[k], b_hh[k]))
                    for k in range(2))
            n = torch.tanh(xs[2][:, t] + r * F.linear(h * rec_masks[2], w_hh[2], b_hh[2]))
            h = z * h + (1 - z) * n
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)


class LazyGateDropoutLSTM(_LazyRecurrent, GateDropoutLSTM):
    """``GateDropoutLSTM`` sized by the first batch."""

    cls_to_become = GateDropoutLSTM

    def __init__(self, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(1, hidden_size, **kwargs)  # 1: replaced on the first batch
        self._make_lazy()


class LazyGateDropoutGRU(_LazyRecurrent, GateDropoutGRU):
    """``GateDropoutGRU`` sized by the first batch."""

    cls_to_become = GateDropoutGRU

    def __init__(self, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(1, hidden_size, **kwargs)  # 1: replaced on the first batch
        self._make_lazy()


def bidirectional_input_dropout(rnn: nn.RNNBase, x: torch.Tensor, rate: float,
                                training: bool) -> Any:
    """A one-layer bidirectional ``rnn`` (batch first) with Keras's Bidirectional input
    dropout: each direction is its own Keras layer and draws its own mask (one per sample
    and feature, the same at every step). In training the batch runs twice, once per
    direction's mask, and each direction's outputs and states come from its own half."""
    if not training or rate == 0:
        return rnn(x)
    n, size = x.shape[0], rnn.hidden_size
    doubled = F.dropout1d(torch.cat([x, x]).transpose(1, 2), p=rate, training=True)
    out, state = rnn(doubled.transpose(1, 2))
    out = torch.cat([out[:n, :, :size], out[n:, :, size:]], dim=-1)
    if isinstance(state, tuple):
        return out, tuple(torch.stack([s[0, :n], s[1, n:]]) for s in state)
    return out, torch.stack([state[0, :n], state[1, n:]])
