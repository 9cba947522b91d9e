"""``return_state`` RNNs inside custom layers: Keras's ``[output, *states]`` list from
torch's ``(output, state)`` through ``rnn_state_outputs`` (runtime/recurrent_cells.py)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch

from agent.rules.training.runtime.recurrent_cells import rnn_state_outputs
from tests.test_lazy_sizes import KERAS, convert, equivalent

STATES = KERAS + """
class Summary(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.gru = layers.GRU(units, return_state=True)
        self.lstm = layers.LSTM(units, return_sequences=True, return_state=True)

    def call(self, inputs):
        seq, h, c = self.lstm(inputs)
        out, state = self.gru(seq)
        both = self.gru(seq)
        return out + state + h - c + both[1]


inputs = keras.Input(shape=(5, 3))
model = keras.Model(inputs, Summary(4)(inputs))
"""


def test_return_state_in_a_custom_layer_is_one_expression() -> None:
    result = convert(STATES)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "seq, h, c = rnn_state_outputs(self.lstm(inputs), return_sequences=True)" \
        in result.source
    assert "def rnn_state_outputs(" in result.source  # copied into the script


def test_return_state_in_a_custom_layer_is_numerically_keras() -> None:
    equivalent(STATES)


def test_states_are_the_last_layer_without_its_axis() -> None:
    out = torch.randn(2, 7, 4)
    h, c = torch.randn(1, 2, 4), torch.randn(1, 2, 4)
    last, h_out, c_out = rnn_state_outputs((out, (h, c)), return_sequences=False)
    torch.testing.assert_close(last, out[:, -1])
    torch.testing.assert_close(h_out, h[0])
    torch.testing.assert_close(c_out, c[0])
    seq, state = rnn_state_outputs((out, h), return_sequences=True)
    assert seq is out and state.shape == (2, 4)


IN_A_HELPER = KERAS + """
class Step(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.gru = layers.GRU(units)
        self.lstm = layers.LSTM(units, return_sequences=True, return_state=True)
        self.rnn = layers.SimpleRNN(units, go_backwards=True)

    def encode(self, x):
        seq, h, c = self.lstm(x)
        return seq, h - c

    def update(self, x, training=None):
        if x.shape[1] > 2:
            return self.gru(x, training=training)
        return self.rnn(x)

    def call(self, inputs):
        seq, state = self.encode(inputs)
        total = state
        for _ in range(2):
            total = total + self.update(seq * 0.5)
        return total + self.rnn(seq)


inputs = keras.Input(shape=(5, 3))
model = keras.Model(inputs, Step(4)(inputs))
"""


def test_rnn_called_in_a_helper_method_returns_what_keras_returns() -> None:
    """The layer's output selection written at each call in the helper (a branch, a
    return_state unpacking), not torch's raw (output, state)."""
    result = convert(IN_A_HELPER)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert "seq, h, c = rnn_state_outputs(self.lstm(x), return_sequences=True)" in code
    assert "return self.gru(x)[0][:, -1]" in code
    assert "return self.rnn(x.flip(1))[0][:, -1]" in code
    assert "total + self.update(seq * 0.5)" in code  # the call() side is unchanged


def test_rnn_called_in_a_helper_method_is_numerically_keras() -> None:
    equivalent(IN_A_HELPER)


def test_rnn_called_with_an_initial_state_in_a_helper_stays_reported() -> None:
    """There the template cannot be written (the state is another input): refused, named."""
    result = convert(IN_A_HELPER.replace("return self.rnn(x)", "return self.rnn(x, x[:, 0])"))
    reasons = [u.reason for u in result.unmapped]
    assert any("self.rnn(x, x[:, 0])" in r and "other arguments" in r for r in reasons), reasons


BRANCHES = KERAS + """
def dense_block(units):
    return keras.Sequential([layers.Dense(units)])


class Update(layers.Layer):
    def __init__(self, units, gated=True, **kwargs):
        super().__init__(**kwargs)
        if gated:
            self.update = layers.GRU(units)
        else:
            self.update = dense_block(units)

    def apply(self, x):
        return self.update(x)

    def call(self, inputs):
        return self.apply(inputs)


inputs = keras.Input(shape=(5, 3))
model = keras.Model(inputs, Update(4, GATED)(inputs))
"""


def test_rnn_bound_in_one_branch_only_is_selected_where_it_is_the_rnn() -> None:
    """``self.update`` is a GRU in one branch and a block in the other: the GRU's output
    selection applies only where the attribute holds the recurrent module."""
    result = convert(BRANCHES.replace("GATED", "True"))
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "return (self.update(x)[0][:, -1] if isinstance(self.update, nn.RNNBase) " \
        "else self.update(x))" in result.source
    for gated in ("True", "False"):
        equivalent(BRANCHES.replace("GATED", gated))
