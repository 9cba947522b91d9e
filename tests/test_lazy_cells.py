"""Keras's LSTM with other activations and Keras 2's GRU cell when their input size is
unknown statically: the lazy forms of ``ActivatedLSTM``/``ResetBeforeGRU`` size themselves on
the first batch (a Sequential over data-shaped inputs, a custom layer's sub-layer)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch

from agent.equivalence import exec_source
from agent.rules.training.runtime.recurrent_cells import (
    ActivatedLSTM,
    LazyActivatedLSTM,
    LazyResetBeforeGRU,
    ResetBeforeGRU,
)
from tests.test_lazy_sizes import KERAS, convert, equivalent

CELLS_FROM_DATA = KERAS + """
import numpy as np

series = np.zeros((8, 6, 3), dtype="float32")
model = keras.Sequential([
    keras.Input(shape=series.shape[1:]),
    layers.GRU(4, reset_after=False, return_sequences=True),
    layers.LSTM(5, activation="relu"),
    layers.Dense(2),
])
"""

CELL_IN_A_LAYER = KERAS + """
class Windows(layers.Layer):
    def __init__(self, units, steps, **kwargs):
        super().__init__(**kwargs)
        self.steps = steps
        self.rnn = layers.LSTM(units, activation="relu", recurrent_activation="hard_sigmoid")
        self.head = layers.Dense(2)

    def call(self, inputs):
        x = keras.ops.reshape(inputs, (-1, self.steps, 4))
        return self.head(self.rnn(x))


inputs = keras.Input(shape=(12,))
model = keras.Model(inputs, Windows(5, 3)(inputs))
"""


def test_cells_of_unknown_input_size_get_lazy_forms() -> None:
    result = convert(CELLS_FROM_DATA)
    code = result.source
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "LazyResetBeforeGRU(4)" in code
    assert "ActivatedLSTM(4, 5, " in code  # sized again after the first
    assert code.count("class LazyResetBeforeGRU(") == 1
    assert code.count("class ResetBeforeGRU(") == 1  # the class it becomes comes along
    assert "init_on_first_batch(self.gru, init_weights)" in code
    assert not any("not reproduced" in w.message for w in result.warnings)


def test_cells_of_unknown_input_size_are_numerically_keras() -> None:
    equivalent(CELLS_FROM_DATA, shape=(6, 3))


def test_cell_in_a_custom_layer_is_sized_by_the_dry_call() -> None:
    result = convert(CELL_IN_A_LAYER)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert 'LazyActivatedLSTM(units, activation="relu"' in result.source
    assert "layers.LSTM" not in result.source


def test_cell_in_a_custom_layer_is_numerically_keras() -> None:
    equivalent(CELL_IN_A_LAYER)


def test_lazy_cells_become_their_eager_class_with_the_same_numbers() -> None:
    for lazy, eager in ((LazyActivatedLSTM(5, activation="relu"),
                         ActivatedLSTM(3, 5, activation="relu")),
                        (LazyResetBeforeGRU(4), ResetBeforeGRU(3, 4))):
        out = lazy(torch.randn(2, 7, 3))[0]
        assert type(lazy) is type(eager) and lazy.input_size == 3
        assert out.shape[-1] == eager.hidden_size
        eager.load_state_dict(lazy.state_dict())  # checkpoints look like the eager class's
        x = torch.randn(2, 4, 3)
        torch.testing.assert_close(eager(x)[0], lazy(x)[0])


def test_converted_module_trains_after_sizing() -> None:
    module = exec_source(convert(CELL_IN_A_LAYER).source, "k2l_cells")["model"]
    params = list(module.parameters())
    assert not any(isinstance(p, torch.nn.parameter.UninitializedParameter) for p in params)
    loss = module(torch.randn(4, 12)).square().mean()
    loss.backward()
    assert all(p.grad is not None for p in params)
