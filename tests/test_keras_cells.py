"""Keras's recurrent cells → the copied KerasSimpleRNNCell/KerasGRUCell/KerasLSTMCell
(training/runtime/keras_cells.py): Keras's call ``cell(inputs, states) -> (output,
new_states)``, Keras's defaults, torch's parameter names; checked against Keras 3 (torch
backend), stepped over a few timesteps, and in converted programs that step cells in custom
layers (a decoder loop, a message-passing update in a helper method)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.runtime.keras_cells import (
    KerasGRUCell,
    KerasLSTMCell,
    KerasSimpleRNNCell,
    StackedCells,
)
from agent.weights.engine import PORTS

X = np.random.default_rng(3).standard_normal((2, 5, 3)).astype("float32")
_TORCH = {"SimpleRNNCell": KerasSimpleRNNCell, "GRUCell": KerasGRUCell,
          "LSTMCell": KerasLSTMCell}
_PORT = {"SimpleRNNCell": "simplernn_cell", "GRUCell": "gru_cell", "LSTMCell": "lstm_cell"}
CASES = [("SimpleRNNCell", {}), ("SimpleRNNCell", {"activation": "relu", "use_bias": False}),
         ("GRUCell", {}), ("GRUCell", {"reset_after": False}),
         ("GRUCell", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
         ("LSTMCell", {}), ("LSTMCell", {"activation": "relu", "unit_forget_bias": False})]


def _stepped(cell: object, x: np.ndarray, as_list: bool) -> list[np.ndarray]:
    """Outputs and final states of ``cell`` stepped over ``x``'s time axis, Keras's way
    (Keras 3 on torch: both sides compute torch tensors)."""
    t = torch.as_tensor(x)
    states: object = cell.get_initial_state(batch_size=x.shape[0])  # type: ignore[attr-defined]
    if not as_list:
        states = states[0]  # type: ignore[index]
    outs = []
    for step in range(x.shape[1]):
        out, states = cell(t[:, step], states)  # type: ignore[operator]
        outs.append(out)
    flat = list(states) if isinstance(states, (list, tuple)) else [states]
    return [v.detach().cpu().numpy() for v in [torch.stack(outs, 1), *flat]]


@pytest.mark.parametrize(("kname", "kwargs"), CASES)
def test_cell_steps_as_keras(kname: str, kwargs: dict[str, object]) -> None:
    """Same weights (ported by the table's rule), same outputs and states at every step."""
    keras_cell = getattr(keras.layers, kname)(4, **kwargs)
    as_list = kname == "LSTMCell" or bool(kwargs)  # both state conventions of GRU/SimpleRNN
    expected = _stepped(keras_cell, X, as_list)
    torch_cell = _TORCH[kname](4, **kwargs)  # sized by the first step, as Keras builds it
    torch_cell(torch.as_tensor(X[:, 0]), torch_cell.get_initial_state(batch_size=2))
    PORTS[_PORT[kname]](keras_cell, torch_cell, kname)
    with torch.no_grad():
        got = _stepped(torch_cell, X, as_list)
    assert len(got) == len(expected) == (3 if kname == "LSTMCell" else 2)
    assert float(np.abs(expected[0]).max()) > 1e-3
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)


def test_state_given_as_a_tensor_comes_back_as_a_tensor() -> None:
    """Keras's GRU/SimpleRNN cells return the state the way it was given: ``h, _ = cell(m,
    h)`` (a GNN update) and ``out, [h] = cell(x, [h])`` both unpack."""
    cell = KerasGRUCell(4, input_size=3)
    x, h = torch.randn(2, 3), torch.zeros(2, 4)
    out, state = cell(x, h)
    assert isinstance(state, torch.Tensor) and torch.equal(out, state)
    out, [state] = cell(x, [h])
    assert torch.equal(out, state)


def test_keras_defaults_at_initialisation() -> None:
    """Glorot-uniform kernel, orthogonal recurrent kernel, zero biases, forget bias 1."""
    torch.manual_seed(0)
    lstm = KerasLSTMCell(6, input_size=3)
    bound = float(np.sqrt(6 / (3 + 24)))
    assert float(lstm.weight_ih.detach().abs().max()) <= bound
    for gate in lstm.weight_hh.detach().T.reshape(6, 4, 6).unbind(1):  # each gate's block
        assert gate.shape == (6, 6)
    q = lstm.weight_hh.detach()
    torch.testing.assert_close(q.T @ q, torch.eye(6), atol=1e-5, rtol=0)
    assert lstm.bias_ih is not None and lstm.bias_hh is not None
    assert lstm.bias_ih[6:12].eq(1).all() and lstm.bias_ih[:6].eq(0).all()
    assert lstm.bias_ih[12:].eq(0).all() and lstm.bias_hh.eq(0).all()
    assert KerasGRUCell(4, input_size=3, use_bias=False).bias_ih is None


def test_stacked_cells_state_layout_is_keras() -> None:
    """One entry per cell; an LSTM's entry is its [h, c]; one cell alone is not wrapped."""
    stack = StackedCells([KerasSimpleRNNCell(4, input_size=3), KerasLSTMCell(2, input_size=4)])
    states = stack.get_initial_state(batch_size=2)
    assert [len(s) for s in states] == [1, 2]
    out, new = stack(torch.randn(2, 3), states)
    assert out.shape == (2, 2) and len(new) == 2 and len(new[1]) == 2


HEAD = "import keras\nimport numpy as np\nfrom keras import layers\n"

PROGRAM = HEAD + textwrap.dedent('''
    class Decoder(layers.Layer):
        """Steps an LSTM cell over the time axis and projects every step."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.cell = layers.LSTMCell(units)
            self.head = layers.Dense(2)

        def call(self, x):
            states = self.cell.get_initial_state(batch_size=keras.ops.shape(x)[0])
            outputs = []
            for t in range(x.shape[1]):
                out, states = self.cell(x[:, t], states)
                outputs.append(self.head(out))
            return keras.ops.stack(outputs, axis=1)


    class Propagate(layers.Layer):
        """A message-passing update: a GRU cell over node states, in a helper method."""

        def __init__(self, units, rounds=2, **kwargs):
            super().__init__(**kwargs)
            self.rounds = rounds
            self.message = layers.Dense(units)
            self.update_cell = layers.GRUCell(units, reset_after=False)

        def update(self, nodes, messages):
            new_nodes, _ = self.update_cell(messages, nodes)
            return new_nodes

        def call(self, nodes):
            for _ in range(self.rounds):
                nodes = self.update(nodes, self.message(nodes))
            return nodes


    inputs = keras.Input(shape=(6, 3))
    decoded = Decoder(5)(inputs)
    summary = layers.RNN(layers.GRUCell(4))(decoded)
    stacked = layers.RNN([layers.SimpleRNNCell(4), layers.LSTMCell(3)])(decoded)
    nodes = Propagate(7)(layers.Concatenate()([summary, stacked]))
    model = keras.Model(inputs, layers.Dense(1)(nodes))
    model.compile(optimizer="adam", loss="mse")

    if __name__ == "__main__":
        x = np.random.default_rng(0).standard_normal((16, 6, 3)).astype("float32")
        y = np.random.default_rng(1).standard_normal((16, 1)).astype("float32")
        model.fit(x, y, batch_size=8, epochs=1)
    ''')


def test_cells_in_custom_layers_convert() -> None:
    result = convert_source(PROGRAM, "cells.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "self.cell = KerasLSTMCell(units)" in code
    assert "self.update_cell = KerasGRUCell(units, reset_after=False)" in code
    assert "out, states = self.cell(x[:, t], states)" in code  # Keras's call, as written
    assert "new_nodes, _ = self.update_cell(messages, nodes)" in code
    assert "LazyGRU(4, batch_first=True)" in code  # RNN(GRUCell) is a GRU layer
    assert "CellRNN(StackedCells([KerasSimpleRNNCell(4), KerasLSTMCell(3, input_size=4)]))" \
        in code
    assert "class KerasGRUCell(_KerasCell):" in code  # the runtime copied in
    assert "import keras" not in code and "layers." not in code and not result.keras_deps


@pytest.mark.slow
def test_cells_in_custom_layers_are_numerically_keras() -> None:
    from agent.equivalence import check_sources

    result = convert_source(PROGRAM, "cells.py")
    eq = check_sources(PROGRAM, result.source)
    assert eq.passed, f"{eq.message}\n{result.source}"


@pytest.mark.slow
def test_cells_program_trains(tmp_path: Path) -> None:
    """fast_dev_run on the converted classes, then the script itself (one batch a Trainer)."""
    from agent.tools.fast_dev_run import Worker

    result = convert_source(PROGRAM, "cells.py")
    path = tmp_path / "cells.py"
    path.write_text(result.source)
    with Worker(kill_grace_s=3.0) as worker:
        check = worker.validate(path, time_limit_s=120)
        assert check.status == "passed", check.message + "".join(
            d.message for d in check.diagnostics)
        run = worker.run_script(path, time_limit_s=120)
    assert run.status == "passed", run.message + "".join(d.message for d in run.diagnostics)


FUNCTIONAL = HEAD + textwrap.dedent('''
    cell = layers.LSTMCell(4)
    inputs = keras.Input(shape=(5, 3))
    seq = layers.RNN(cell, return_sequences=True)(inputs)
    last, state = layers.RNN(layers.GRUCell(3), return_state=True)(seq)
    steps, hidden = layers.RNN(layers.GRUCell(2, activation="relu"), return_sequences=True,
                          return_state=True)(seq)
    model = keras.Model(inputs, [last + state, steps, hidden * 2.0])
    ''')


def test_rnn_over_a_bound_cell_and_cell_states_in_a_graph() -> None:
    """``cell = LSTMCell(4); RNN(cell)``: the RNN is built from the cell's constructor (the
    statement goes); a return_state RNN over a cell torch's layers cannot run is unpacked
    as Keras's ``(output, *states)``."""
    result = convert_source(FUNCTIONAL, "graph.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "cell = " not in code.split("class GraphModel")[0].split("def ")[-1]
    assert "nn.LSTM(3, 4, batch_first=True)" in code
    assert 'CellRNN(\n            KerasGRUCell(2, input_size=4, activation="relu"),' in code
    assert "return_state=True," in code
    assert "steps, hidden = self.rnn_2(seq)" in code


@pytest.mark.slow
def test_rnn_over_a_bound_cell_and_cell_states_are_numerically_keras() -> None:
    from agent.equivalence import check_sources

    result = convert_source(FUNCTIONAL, "graph.py")
    eq = check_sources(FUNCTIONAL, result.source)
    assert eq.passed, f"{eq.message}\n{result.source}"


def test_stacked_cells_with_return_state_stay_reported() -> None:
    src = HEAD + textwrap.dedent('''
        inputs = keras.Input(shape=(5, 3))
        out = layers.RNN([layers.GRUCell(3), layers.GRUCell(2)], return_state=True)(inputs)
        model = keras.Model(inputs, out[0])
        ''')
    result = convert_source(src, "stacked.py")
    assert any("stacked Keras cells with return_state" in u.reason for u in result.unmapped)
