"""Keras's ConvLSTM2D, copied into converted scripts (torch has no convolutional LSTM).

Keras 3's layer on channels_last input (batch, time, rows, cols, channels): the input
convolution has the layer's strides/padding/dilation, the recurrent one stride 1 and "same"
padding; gates i, f, c, o; ``c = f * c + i * act(x_c + h_c)``, ``h = o * act(c)``. "same"
pads as TensorFlow does (the extra row/column at the end), which ``padding="same"`` in torch
cannot do with strides. Parameters are in torch's conv layout, Keras's defaults at creation;
``in_channels=None`` (size unknown at conversion) reads it from the first batch, as Keras.
"""

from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from .recurrent_cells import _activation


def _same_pad(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
              dilation: tuple[int, int]) -> torch.Tensor:
    """TensorFlow's "same" padding of (N, C, H, W): the odd pixel goes after."""
    pads: list[int] = []
    for size, k, s, d in reversed(list(zip(x.shape[2:], kernel, stride, dilation, strict=True))):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class ConvLSTM2d(LazyModuleMixin, nn.Module):
    """(batch, time, rows, cols, channels) → the last state, or every step's, channels last."""

    weight_ih: Any  # nn.Parameter, or UninitializedParameter until the first batch

    def __init__(self, in_channels: int | None, filters: int, kernel_size: tuple[int, int], *,
                 strides: tuple[int, int] = (1, 1), padding: str = "valid",
                 dilation_rate: tuple[int, int] = (1, 1), activation: str = "tanh",
                 recurrent_activation: str = "sigmoid", bias: bool = True,
                 unit_forget_bias: bool = True, return_sequences: bool = False,
                 go_backwards: bool = False) -> None:
        super().__init__()
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.padding, self.dilation_rate = padding, dilation_rate
        self.activation = _activation(activation)
        self.recurrent_activation = _activation(recurrent_activation)
        self.return_sequences, self.go_backwards = return_sequences, go_backwards
        self.weight_ih = (nn.parameter.UninitializedParameter() if in_channels is None
                          else nn.Parameter(torch.empty(4 * filters, in_channels, *kernel_size)))
        self.weight_hh = nn.Parameter(torch.empty(4 * filters, filters, *kernel_size))
        self.bias = nn.Parameter(torch.zeros(4 * filters)) if bias else None
        if in_channels is not None:
            nn.init.xavier_uniform_(self.weight_ih)  # Keras: glorot_uniform
        nn.init.orthogonal_(self.weight_hh)  # Keras: orthogonal
        if self.bias is not None and unit_forget_bias:
            with torch.no_grad():
                self.bias[filters:2 * filters] = 1.0

    def initialize_parameters(self, x: torch.Tensor) -> None:
        """Sizes the input kernel from the first batch's channels (a no-op once sized)."""
        if self.has_uninitialized_params():
            with torch.no_grad():
                self.weight_ih.materialize((4 * self.filters, int(x.shape[-1]), *self.kernel_size))
                nn.init.xavier_uniform_(self.weight_ih)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(output, h, c), all channels last; output is every step's h with
        ``return_sequences`` (in the order run: reversed with ``go_backwards``, as Keras)."""
        batch, steps = x.shape[:2]
        frames = x.flatten(0, 1).permute(0, 3, 1, 2)  # (B*T, C, H, W)
        if self.padding == "same":
            frames = _same_pad(frames, self.kernel_size, self.strides, self.dilation_rate)
        inputs = F.conv2d(frames, self.weight_ih, self.bias, self.strides,
                          dilation=self.dilation_rate)
        inputs = inputs.view(batch, steps, *inputs.shape[1:])
        if self.go_backwards:
            inputs = inputs.flip(1)
        h = inputs.new_zeros(batch, self.filters, *inputs.shape[3:])
        c = torch.zeros_like(h)
        outputs = []
        for t in range(steps):
            gates = inputs[:, t] + F.conv2d(
                _same_pad(h, self.kernel_size, (1, 1), (1, 1)), self.weight_hh)
            i, f, g, o = gates.chunk(4, dim=1)
            c = self.recurrent_activation(f) * c + self.recurrent_activation(i) * self.activation(g)
            h = self.recurrent_activation(o) * self.activation(c)
            outputs.append(h)
        last = (h.permute(0, 2, 3, 1), c.permute(0, 2, 3, 1))
        if self.return_sequences:
            return torch.stack(outputs, 1).permute(0, 1, 3, 4, 2), *last
        return last[0], *last
