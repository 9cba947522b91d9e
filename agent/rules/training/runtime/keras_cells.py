"""Keras's recurrent cells (``SimpleRNNCell``, ``GRUCell``, ``LSTMCell``, ``StackedRNNCells``)
as torch modules, copied into converted scripts that use them.

torch's ``nn.GRUCell`` and friends return the new state alone and take it as one tensor;
Keras cells are called ``cell(inputs, states)`` and return ``(output, new_states)``, the
states a list when they were given as one, and code written for them (a decoder stepping
``out, states = cell(x[:, t], states)``, a message-passing layer's ``h, _ = gru(m, [h])``)
unpacks exactly that. These modules keep Keras's call, its defaults (glorot-uniform kernel,
orthogonal recurrent kernel, zero biases, forget-gate bias 1) and torch's parameter names and
gate order (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; GRU r, z, n; LSTM i, f, g,
o), so weight porting treats them as ``nn.GRUCell``/``nn.LSTMCell``. Keras's one bias goes to
``bias_ih`` (``bias_hh`` starts at zero); GRU's ``reset_after=True`` has both. Sized by the
first input when the input size is not given, as Keras builds a cell on its first call.
"""

from typing import Any

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from .recurrent_cells import _activation


class _KerasCell(LazyModuleMixin, nn.Module):
    """Parameters, Keras's initializers and states shared by the three cells."""

    gates = 1
    weight_ih: Any
    weight_hh: nn.Parameter
    bias_ih: nn.Parameter | None
    bias_hh: nn.Parameter | None

    def __init__(self, units: int, input_size: int | None = None, *, activation: str = "tanh",
                 recurrent_activation: str = "sigmoid", use_bias: bool = True) -> None:
        super().__init__()
        self.units = units
        self.activation = _activation(activation)
        self.recurrent_activation = _activation(recurrent_activation)
        rows = self.gates * units
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size)) if input_size \
            else nn.parameter.UninitializedParameter()
        self.weight_hh = nn.Parameter(torch.empty(rows, units))
        self.bias_ih = nn.Parameter(torch.empty(rows)) if use_bias else None
        self.bias_hh = nn.Parameter(torch.empty(rows)) if use_bias else None
        self.reset_parameters()

    @property
    def state_size(self) -> Any:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def reset_parameters(self) -> None:
        """Keras's defaults: glorot-uniform kernel, orthogonal recurrent kernel, zero biases."""
        if self.has_uninitialized_params():
            return
        with torch.no_grad():
            nn.init.xavier_uniform_(self.weight_ih)
            nn.init.orthogonal_(self.weight_hh)
            for bias in (self.bias_ih, self.bias_hh):
                if bias is not None:
                    nn.init.zeros_(bias)

    def initialize_parameters(self, inputs: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        """The input size is the first input's last axis."""
        if self.has_uninitialized_params():
            with torch.no_grad():
                self.weight_ih.materialize((self.gates * self.units, int(inputs.shape[-1])))
                self.reset_parameters()

    def get_initial_state(self, batch_size: int) -> list[torch.Tensor]:
        """Keras's zero states, one per entry of ``state_size``."""
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [self.weight_hh.new_zeros(batch_size, n) for n in sizes]

    def _first_state(self, states: Any) -> torch.Tensor:
        first: torch.Tensor = states[0] if isinstance(states, (list, tuple)) else states
        return first

    def _linear(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = nn.functional.linear(inputs, self.weight_ih, self.bias_ih)
        return x, nn.functional.linear(h, self.weight_hh, self.bias_hh)


class KerasSimpleRNNCell(_KerasCell):
    """Keras's ``SimpleRNNCell``: ``h = activation(x W + h U + b)``."""

    def forward(self, inputs: torch.Tensor, states: Any, training: bool | None = None
                ) -> tuple[torch.Tensor, Any]:
        x, hidden = self._linear(inputs, self._first_state(states))
        h = self.activation(x + hidden)
        return h, [h] if isinstance(states, (list, tuple)) else h


class KerasGRUCell(_KerasCell):
    """Keras's ``GRUCell``; ``reset_after=False`` (Keras 2's default) applies the reset
    gate to the state before the candidate's recurrent matmul."""

    gates = 3

    def __init__(self, units: int, input_size: int | None = None, *, reset_after: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(units, input_size, **kwargs)
        self.reset_after = reset_after

    def forward(self, inputs: torch.Tensor, states: Any, training: bool | None = None
                ) -> tuple[torch.Tensor, Any]:
        h_prev = self._first_state(states)
        x_r, x_z, x_n = nn.functional.linear(inputs, self.weight_ih, self.bias_ih).chunk(3, -1)
        w_r, w_z, w_n = self.weight_hh.chunk(3, 0)
        b_r, b_z, b_n = self.bias_hh.chunk(3) if self.bias_hh is not None else (None,) * 3
        r = self.recurrent_activation(x_r + nn.functional.linear(h_prev, w_r, b_r))
        z = self.recurrent_activation(x_z + nn.functional.linear(h_prev, w_z, b_z))
        if self.reset_after:
            n = self.activation(x_n + r * nn.functional.linear(h_prev, w_n, b_n))
        else:
            n = self.activation(x_n + nn.functional.linear(r * h_prev, w_n, b_n))
        h = z * h_prev + (1 - z) * n
        return h, [h] if isinstance(states, (list, tuple)) else h


class KerasLSTMCell(_KerasCell):
    """Keras's ``LSTMCell``; states ``[h, c]``; ``unit_forget_bias`` (Keras's default)
    starts the forget gate's bias at 1."""

    gates = 4

    def __init__(self, units: int, input_size: int | None = None, *,
                 unit_forget_bias: bool = True, **kwargs: Any) -> None:
        self.unit_forget_bias = unit_forget_bias
        super().__init__(units, input_size, **kwargs)

    @property
    def state_size(self) -> Any:
        return [self.units, self.units]

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.unit_forget_bias and self.bias_ih is not None \
                and not self.has_uninitialized_params():
            with torch.no_grad():
                nn.init.ones_(self.bias_ih[self.units:2 * self.units])

    def forward(self, inputs: torch.Tensor, states: Any, training: bool | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h_prev, c_prev = states[0], states[1]
        x, hidden = self._linear(inputs, h_prev)
        i, f, g, o = (x + hidden).chunk(4, -1)
        c = self.recurrent_activation(f) * c_prev \
            + self.recurrent_activation(i) * self.activation(g)
        h = self.recurrent_activation(o) * self.activation(c)
        return h, [h, c]


class StackedCells(nn.Module):
    """Keras's ``StackedRNNCells`` (and ``RNN([cell, ...])``): the cells in order at
    each step, each cell's states one entry of the states."""

    def __init__(self, cells: list[nn.Module]) -> None:
        super().__init__()
        self.cells = nn.ModuleList(cells)

    @property
    def state_size(self) -> list[Any]:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> Any:
        return getattr(self.cells[-1], "output_size", None)

    def get_initial_state(self, batch_size: int) -> list[Any]:
        return [cell.get_initial_state(batch_size=batch_size)  # type: ignore[operator]
                for cell in self.cells]

    def forward(self, inputs: torch.Tensor, states: Any, training: bool | None = None
                ) -> tuple[torch.Tensor, Any]:
        new_states = []
        for cell, cell_states in zip(self.cells, states, strict=False):
            is_list = isinstance(cell_states, (list, tuple))
            inputs, cell_states = cell(inputs, list(cell_states) if is_list else [cell_states])
            if len(cell_states) == 1 and not is_list:
                cell_states = cell_states[0]
            new_states.append(cell_states)
        return inputs, new_states[0] if len(new_states) == 1 else new_states
