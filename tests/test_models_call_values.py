"""Loop bounds from builder parameters the module's calls pass (issue 9 point 7).

``def get_model(num_layers): for _ in range(num_layers): ...`` called as
``get_model(num_layers=3)``: unrolled for 3, as for a default, and the class asserts it.
Calls that disagree, or pass a value the rules cannot read, leave the loop alone.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import pytest

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow


def test_loop_bound_passed_by_the_only_call_is_unrolled_and_asserted() -> None:
    src = KERAS + """
def build_model(num_layers, width, depth):
    blocks = (depth - 2) // 6
    inputs = keras.Input(shape=(6,))
    x = inputs
    for _ in range(num_layers):
        x = layers.Dense(width, activation="relu")(x)
    for _ in range(blocks):
        x = layers.Dense(4)(x)
    return keras.Model(inputs, x)


model = build_model(num_layers=3, width=5, depth=14)
"""
    code = check(src, "model")
    # a chain over a parameter's range: built by the same loop (rolled_loops.py, runtime
    # form); the bound derived from depth is unrolled for the value the call passes
    assert "for _ in range(num_layers) for module in" in " ".join(code.split()), code
    assert "nn.LazyLinear(4)" in code and "nn.Linear(4, 4)" in code, code
    # every call's value is also the default: the class builds without arguments
    assert "def __init__(self, num_layers: int = 3, width: int = 5, depth: int = 14)" in code
    assert 'assert depth == 14, "k2l: layers were unrolled for depth=14"' in code
    assert "assert num_layers" not in code
    result = convert_source(textwrap.dedent(src))
    assert any("range(blocks) unrolled for depth=14 (the value every call passes)"
               in w.message for w in result.warnings), result.warnings
    ns = exec_source(code, "k2l_converted")
    assert len(ns["build_model"](num_layers=2, width=5, depth=14).loop_layers) == 2 * 2
    with pytest.raises(AssertionError):
        ns["build_model"](num_layers=3, width=5, depth=20)


def test_helper_looping_over_a_list_the_builder_receives() -> None:
    """A helper's ``for units in hidden_units`` inlined where the builder passes its own
    parameter, whose value comes from the call."""
    check(KERAS + """
def mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation="gelu")(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def build_model(mlp_units, classes=2):
    inputs = keras.Input(shape=(5,))
    x = mlp(inputs, hidden_units=mlp_units, dropout_rate=0.1)
    return keras.Model(inputs, layers.Dense(classes)(x))


model = build_model([8, 4])
""", "model")


@pytest.mark.parametrize("calls", [
    "a = build_model(2)\nb = build_model(3)\n",  # the calls disagree
    "import sys\na = build_model(len(sys.argv))\n",  # a value the rules cannot read
])
def test_loop_bound_is_not_assumed_when_calls_do_not_agree(calls: str) -> None:
    src = textwrap.dedent(KERAS + """
def build_model(depth):
    inputs = keras.Input(shape=(4,))
    x = inputs
    for _ in range(depth):
        x = layers.Dense(4)(x)
    return keras.Model(inputs, x)


""") + calls
    result = convert_source(src)
    # not unrolled for any value: the loop runs when the class is built (runtime_loops.py)
    assert "for _ in range(depth) for module in (nn.LazyLinear(4),)" in \
        " ".join(result.source.split()), result.source
    assert "unrolled for" not in result.source
    assert not result.unmapped, result.unmapped


def test_input_shape_and_sizes_every_call_passes_become_defaults() -> None:
    """``build_model((12, 10, 1), NUM_CLASSES)``: the Input gets its shape from the call, the
    class asserts it, and every call-site value is the parameter's default, so the class
    builds without arguments and has an example_input_array (Keras computes the numbers)."""
    code = check(KERAS + """
NUM_CLASSES = 7


def build_model(input_shape, num_classes, hidden=16):
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = layers.Flatten()(x)
    x = layers.Dense(hidden, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


model = build_model((12, 10, 1), NUM_CLASSES)
""", "model")
    assert "Lazy" not in code
    flat = " ".join(code.split())
    assert ("def __init__( self, input_shape: tuple[int, ...] = (12, 10, 1), num_classes: int = 7,"
            " hidden: int = 16, ) -> None:") in flat, code
    assert 'assert input_shape == (12, 10, 1), "k2l: layers were sized for' in code
    ns = exec_source(code, "k2l_converted_defaults")
    module = ns["KerasModel"]().eval()
    assert tuple(module(module.example_input_array).shape) == (1, 7)
    with pytest.raises(AssertionError):
        ns["build_model"]((8, 8, 1), 7)


def test_training_loop_over_a_parameter_after_the_model_asserts_nothing() -> None:
    """``model = build_model()`` then ``for epoch in range(epochs)`` over a compiled step in
    the same function: a training loop, from which no model keeps anything, so nothing is
    asserted and nothing is reported."""
    src = """
import numpy as np
import tensorflow as tf
import keras
from keras import layers


def build_model():
    return keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])


def train(x, epochs=2):
    model = build_model()

    @tf.function
    def step(batch):
        return model(batch)

    for epoch in range(epochs):
        for batch in [x]:
            out = step(batch)
        print(epoch, out)
    return model


if __name__ == "__main__":
    train(np.zeros((4, 3), "float32"))
"""
    result = convert_source(src, "model.py")
    assert not any("asserts that value" in w.message for w in result.warnings), result.warnings
    assert "assert epochs" not in result.source


def test_a_size_held_by_a_builder_local_is_written_as_its_value() -> None:
    """``rnn_size = 512`` inside the builder: the class sits at module level and cannot
    read the builder's locals, so the value is written (a module constant keeps its name)."""
    src = KERAS + """
HIDDEN = 6


def train():
    rnn_size = 5
    inputs = keras.Input(shape=(4, 3))
    x = layers.GRU(rnn_size, return_sequences=True)(inputs)
    x = layers.LSTM(rnn_size * 2)(x)
    return keras.Model(inputs, layers.Dense(HIDDEN)(x))


model = train()
"""
    code = check(src, "model")
    assert "(3, rnn_size" not in code and "LSTM(rnn_size" not in code
    assert "nn.GRU(3, 5, batch_first=True)" in code and "nn.LSTM(5, 10" in code
    assert "nn.Linear(10, HIDDEN)" in code
