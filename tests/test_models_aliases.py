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


def test_an_alias_only_printed_names_the_torch_class_the_model_uses() -> None:
    """Keras 2's ``from keras.layers import recurrent``; the script prints the class it
    picked: after conversion that is the torch class the model runs."""
    src = textwrap.dedent("""
        from keras.layers import recurrent, Input, Dense
        from keras.models import Model

        CELL = recurrent.GRU
        print('cell = {}'.format(CELL))
        inputs = Input(shape=(7, 3))
        model = Model(inputs, Dense(2)(CELL(5)(inputs)))
    """)
    result = convert_source(src)
    assert "CELL = nn.GRU\n" in result.source
    assert "recurrent" not in result.source
    assert "print('cell = {}'.format(CELL))" in result.source


def test_an_alias_read_by_other_code_keeps_the_keras_class() -> None:
    """A call outside the converted model (here a second, unconverted use) still needs the
    Keras layer: the alias is not retargeted."""
    src = textwrap.dedent("""
        from keras.layers import recurrent, Input, Dense
        from keras.models import Model

        CELL = recurrent.GRU
        print('cell = {}'.format(CELL))
        inputs = Input(shape=(7, 3))
        model = Model(inputs, Dense(2)(CELL(5)(inputs)))
        spare = CELL
    """)
    result = convert_source(src)
    assert "CELL = recurrent.GRU" in result.source
    assert "CELL = nn.GRU" not in result.source
