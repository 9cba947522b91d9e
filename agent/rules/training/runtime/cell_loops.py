"""Keras's ``RNN(cell)`` layer over a converted custom cell, copied into converted scripts.

Keras runs any object with ``state_size`` and ``call(inputs, states) -> (output,
new_states)`` over the time axis; torch has no such wrapper. ``CellRNN`` is that loop, with
Keras's initial states (the cell's ``get_initial_state(batch_size=...)`` if it has one, else
zeros: an int ``state_size`` is one ``(batch, n)`` state, a list of ints one state each, a
``torch.Size`` (TF's ``TensorShape``) one ``(batch, *shape)`` state), the states passed as a
list, and ``return_sequences``/``return_state``/``go_backwards`` as Keras reads them.
"""

from typing import Any

import torch
from torch import nn


class CellRNN(nn.Module):
    """Keras's ``RNN(cell, return_sequences, return_state, go_backwards)``."""

    def __init__(self, cell: nn.Module, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False) -> None:
        super().__init__()
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards

    def initial_state(self, inputs: torch.Tensor) -> list[Any]:
        batch = int(inputs.shape[0])
        make = getattr(self.cell, "get_initial_state", None)
        if make is not None:
            states = make(batch_size=batch)
            return list(states) if isinstance(states, (list, tuple)) else [states]
        size: Any = self.cell.state_size
        sizes = [size] if isinstance(size, (int, torch.Size)) else list(size)
        return [inputs.new_zeros((batch, *((s,) if isinstance(s, int) else tuple(s))))
                for s in sizes]

    def forward(self, inputs: torch.Tensor, initial_state: Any = None) -> Any:
        states = self.initial_state(inputs) if initial_state is None else initial_state
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        steps = range(inputs.shape[1])
        outputs = []
        for t in reversed(steps) if self.go_backwards else steps:
            output, new_states = self.cell(inputs[:, t], states)
            states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
            outputs.append(output)
        out = torch.stack(outputs, dim=1) if self.return_sequences else outputs[-1]
        return (out, *states) if self.return_state else out
