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

    def update(self, x):
        return self.gru(x)

    def call(self, inputs):
        return self.update(inputs)


inputs = keras.Input(shape=(5, 3))
model = keras.Model(inputs, Step(4)(inputs))
"""


def test_rnn_called_in_a_helper_method_stays_reported() -> None:
    """There the raw torch call would return (output, state): not converted silently."""
    result = convert(IN_A_HELPER)
    reasons = [u.reason for u in result.unmapped]
    assert any("outside call()" in r for r in reasons), reasons
    assert "self.gru = layers.GRU(units)" in result.source
