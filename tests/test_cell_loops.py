"""``keras.layers.RNN(custom_cell)`` → the copied CellRNN loop over the converted cell, and
``tf.TensorShape`` state sizes (TF Keras 2: one state of that shape)."""

from __future__ import annotations

import os
import textwrap

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

from agent.rules.training.runtime.cell_loops import CellRNN

HEADER = "import keras\nfrom keras import layers\n"

NET = """
class MinimalCell(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.dense = layers.Dense(units)
        self.rec = layers.Dense(units, use_bias=False)

    def call(self, inputs, states):
        h = keras.ops.tanh(self.dense(inputs) + self.rec(states[0]))
        return h, [h]


class Net(keras.Model):
    def __init__(self, cell, backwards, **kwargs):
        super().__init__(**kwargs)
        self.rnn = layers.RNN(cell, return_sequences=True, go_backwards=backwards)
        self.last = layers.RNN(MinimalCell(3), return_state=True)

    def call(self, x):
        y = self.rnn(x)
        out, state = self.last(y)
        return out + state


net = Net(MinimalCell(4), True)
"""


def test_rnn_over_custom_cell_converts() -> None:
    from agent.rules.convert import convert_source

    result = convert_source(HEADER + textwrap.dedent(NET), "net.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "self.rnn = CellRNN(cell, return_sequences=True, go_backwards=backwards)" in code
    assert "self.last = CellRNN(MinimalCell(3), return_state=True)" in code
    assert "class CellRNN(nn.Module):" in code  # the runtime loop copied in
    assert "def forward(self, inputs, states):" in code


@pytest.mark.slow
def test_rnn_over_custom_cell_numerically() -> None:
    import keras
    import torch

    from agent.equivalence import exec_source
    from agent.rules.convert import convert_source
    from agent.weights import port_weights

    source = HEADER + textwrap.dedent(NET)
    converted = convert_source(source, "net.py")
    k, t = exec_source(source, "orig"), exec_source(converted.source, "conv")
    x = np.random.default_rng(5).standard_normal((2, 6, 3)).astype("float32")
    keras_net, torch_net = k["net"], t["net"]
    expected = keras.ops.convert_to_numpy(keras_net(x))  # type: ignore[operator]
    torch_net.eval()  # type: ignore[attr-defined]
    with torch.no_grad():
        torch_net(torch.as_tensor(x))  # type: ignore[operator]
    port_weights(keras_net, torch_net)
    with torch.no_grad():
        got = torch_net(torch.as_tensor(x)).numpy()  # type: ignore[operator]
    assert float(np.abs(expected).max()) > 1e-3
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_tensor_shape_state_is_one_state_of_that_shape() -> None:
    """TF Keras 2 reads a TensorShape state_size as one (batch, *shape) state; torch.Size
    (what tf.TensorShape converts to) is read the same way, a list of ints as one state each."""
    import torch

    class Cell(torch.nn.Module):
        def __init__(self, state_size: object) -> None:
            super().__init__()
            self.state_size = state_size
            self.seen: list[tuple[int, ...]] = []

        def forward(self, x: torch.Tensor, states: list[torch.Tensor]
                    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
            self.seen = [tuple(s.shape) for s in states]
            return x, [s + 1 for s in states]

    x = torch.ones(2, 3, 5)
    cell = Cell(torch.Size([4, 5]))
    out, state = CellRNN(cell, return_state=True)(x)
    assert cell.seen == [(2, 4, 5)] and torch.equal(state, torch.full((2, 4, 5), 3.0))
    cell = Cell([4, 6])
    CellRNN(cell)(x)
    assert cell.seen == [(2, 4), (2, 6)]
    seq = CellRNN(Cell(1), return_sequences=True, go_backwards=True)(torch.arange(3.0)[None, :, None])
    assert seq.flatten().tolist() == [2.0, 1.0, 0.0]  # Keras: outputs in the order processed
