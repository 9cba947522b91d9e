"""``RNN = layers.LSTM`` at module level: calls of the alias are that layer (Keras 2
examples pick their recurrent layer this way)."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import pytest

from agent.rules.convert import convert_source
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow


def test_a_layer_alias_assigned_once_is_that_layer() -> None:
    code = check(KERAS + """
RNN = layers.GRU
HIDDEN = 5

inputs = keras.Input(shape=(7, 3))
x = RNN(HIDDEN)(inputs)
model = keras.Model(inputs, layers.Dense(2)(x))
""", "model")
    assert "nn.GRU(3, HIDDEN" in code


def test_an_alias_rebound_later_is_not_trusted() -> None:
    src = textwrap.dedent(KERAS + """
RNN = layers.GRU
RNN = layers.LSTM

inputs = keras.Input(shape=(7, 3))
model = keras.Model(inputs, RNN(4)(inputs))
""")
    result = convert_source(src)
    assert "nn.GRU" not in result.source and "nn.LSTM" not in result.source
    assert result.unmapped
