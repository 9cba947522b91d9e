"""Keras's masked recurrence, copied into converted scripts whose RNNs read a mask.

Keras skips the steps a mask marks False (``Embedding(mask_zero=True)``, ``Masking``): the
state is carried over and the output repeats the previous one, or is zero with
``zero_output`` (Bidirectional sets it when it returns sequences). ``pack_padded_sequence``
covers right-padded batches only; Keras pads on the left by default (``pad_sequences``) and
any mask works, so this runs the module's own weights step by step under the mask. The
module stays the ``nn.LSTM``/``nn.GRU``/``nn.RNN`` it was: parameters, weight porting and
checkpoints are unchanged.
"""

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

_State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _step(rnn: nn.RNNBase, suffix: str, xw: torch.Tensor, h: torch.Tensor, c: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of torch's cell (gate order i, f, g, o / r, z, n): the new (h, c)."""
    bias = getattr(rnn, f"bias_hh_l0{suffix}") if rnn.bias else None
    hw = F.linear(h, getattr(rnn, f"weight_hh_l0{suffix}"), bias)
    if rnn.mode == "LSTM":
        i, f, g, o = (xw + hw).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    if rnn.mode == "GRU":
        x_r, x_z, x_n = xw.chunk(3, dim=1)
        h_r, h_z, h_n = hw.chunk(3, dim=1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        return (1 - z) * torch.tanh(x_n + r * h_n) + z * h, c
    return (torch.relu if rnn.mode == "RNN_RELU" else torch.tanh)(xw + hw), c


def _direction(rnn: nn.RNNBase, suffix: str, x: torch.Tensor, mask: torch.Tensor,
               h: torch.Tensor, c: torch.Tensor, zero_output: bool
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    bias = getattr(rnn, f"bias_ih_l0{suffix}") if rnn.bias else None
    xw = F.linear(x, getattr(rnn, f"weight_ih_l0{suffix}"), bias)  # every step at once
    out = torch.zeros_like(h)
    outputs = []
    for t in range(x.size(1)):
        keep = mask[:, t].unsqueeze(-1)
        new_h, new_c = _step(rnn, suffix, xw[:, t], h, c)
        out = torch.where(keep, new_h, torch.zeros_like(new_h) if zero_output else out)
        h, c = torch.where(keep, new_h, h), torch.where(keep, new_c, c)
        outputs.append(out)
    return torch.stack(outputs, dim=1), h, c


def masked_rnn(rnn: nn.RNNBase, x: torch.Tensor, hx: _State | None = None, *,
               mask: torch.Tensor, zero_output: bool = False
               ) -> tuple[torch.Tensor, _State]:
    """``rnn(x, hx)`` for a one-layer, batch-first module, skipping the steps where ``mask``
    (batch, time) is False as Keras does; the same outputs and final states as ``rnn``."""
    mask = mask.bool()
    if hx is None:
        zeros = x.new_zeros(2 if rnn.bidirectional else 1, x.size(0), rnn.hidden_size)
        hx = (zeros, zeros) if rnn.mode == "LSTM" else zeros
    h0, c0 = hx if isinstance(hx, tuple) else (hx, hx)
    outputs, hs, cs = [], [], []
    for d, suffix in enumerate(("", "_reverse")[:2 if rnn.bidirectional else 1]):
        seq, keep = (x.flip(1), mask.flip(1)) if d else (x, mask)  # backward: from the end
        out, h, c = _direction(rnn, suffix, seq, keep, h0[d], c0[d], zero_output)
        outputs.append(out.flip(1) if d else out)
        hs.append(h)
        cs.append(c)
    h_n = torch.stack(hs)
    state: _State = (h_n, torch.stack(cs)) if rnn.mode == "LSTM" else h_n
    return torch.cat(outputs, dim=-1), state
