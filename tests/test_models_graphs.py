"""Graphs built the way people build them: tensor helper functions, loops over layers.

Every converted program is compared with its Keras original (Keras 3, torch backend); the
forms the rules cannot follow statically must stay as written, with a reason.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from typing import Any

import keras
import pytest

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install

pytestmark = pytest.mark.slow

KERAS = "import keras\nfrom keras import layers\n\n"


def check(src: str, builder: str) -> str:
    """Convert, require a clean conversion, build both sides, compare outputs."""
    src = textwrap.dedent(src)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "keras" not in code and "tensorflow" not in code, code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    ns: dict[str, Any] = exec_source(src, "k2l_original")
    keras_model = eval(builder, ns)
    module = eval(builder, exec_source(code, "k2l_converted"))
    eq = compare(keras_model, module)
    assert eq.passed, f"{eq.message}\n{code}"
    return code


def test_residual_helper_called_in_a_loop_over_a_constant() -> None:
    code = check(KERAS + """
FILTERS = [4, 6]


def res_block(x, filters, kernel=3):
    \"\"\"Two convolutions and a projected skip connection.\"\"\"
    skip = layers.Conv2D(filters, 1)(x)
    x = layers.Conv2D(filters, kernel, padding="same", activation="relu")(x)
    x = layers.Conv2D(filters, kernel, padding="same")(x)
    x = layers.Add()([x, skip])
    return layers.Activation("relu")(x)


def build_model(classes=3):
    inputs = keras.Input(shape=(8, 8, 2))
    x = inputs
    for f in FILTERS:
        x = res_block(x, f)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(classes)(x))
""", "build_model()")
    assert "def res_block" not in code  # inlined everywhere: the Keras helper is gone
    assert code.count("nn.Conv2d(") == 6


def test_nested_helper_and_range_loop_in_a_script() -> None:
    check(KERAS + """
def dense_stack(t, units, depth=2):
    for _ in range(depth):
        t = layers.Dense(units, activation="tanh")(t)
    return t


inputs = keras.Input(shape=(5,))
h = dense_stack(inputs, 7)
h = layers.Dense(3)(dense_stack(h, 4, depth=3))
model = keras.Model(inputs, h)
""", "model")


def test_helper_returning_two_tensors_and_enumerate_loop() -> None:
    check(KERAS + """
def split_heads(x, units):
    a = layers.Dense(units)(x)
    b = layers.Dense(units, activation="relu")(x)
    return a, b


def build_model():
    inputs = keras.Input(shape=(6,))
    x = inputs
    for i, units in enumerate([5, 3]):
        left, right = split_heads(x, units)
        x = layers.Concatenate()([left, right])
    return keras.Model(inputs, x)
""", "build_model()")


def test_sequential_add_in_a_loop() -> None:
    check(KERAS + """
model = keras.Sequential()
model.add(keras.Input(shape=(4,)))
for units in (8, 6, 2):
    model.add(layers.Dense(units, activation="relu"))
""", "model")


def test_helper_taking_a_list_of_tensors() -> None:
    check(KERAS + """
def merge(tensors, units):
    x = layers.concatenate(tensors)
    return layers.Dense(units)(x)


a = keras.Input(shape=(3,))
b = keras.Input(shape=(2,))
model = keras.Model([a, b], merge([a, b], 4))
""", "model")


def test_loop_bound_from_a_builder_parameter_is_not_unrolled() -> None:
    """Unrolling ``range(depth)`` with depth's default would fix what the caller chooses:
    the model stays as written, with a reason."""
    src = textwrap.dedent(KERAS + """
def build_model(depth=2):
    inputs = keras.Input(shape=(4,))
    x = inputs
    for _ in range(depth):
        x = layers.Dense(4)(x)
    return keras.Model(inputs, layers.Dense(1)(x))
""")
    result = convert_source(src)
    assert "keras.Model(inputs" in result.source
    assert any("rebound at line" in u.reason for u in result.unmapped), result.unmapped


def test_helper_used_by_an_unconverted_model_is_kept() -> None:
    src = textwrap.dedent(KERAS + """
def block(x):
    return layers.Dense(4, activation="relu")(x)


def build_model(depth=2):
    inputs = keras.Input(shape=(4,))
    x = block(inputs)
    for _ in range(depth):
        x = block(x)
    return keras.Model(inputs, x)
""")
    result = convert_source(src)
    assert "def block(x):" in result.source
    assert result.unmapped
