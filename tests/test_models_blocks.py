"""A helper called several times becomes one ``nn.Module`` class, instantiated per call.

Each case is compared with its Keras original (Keras 3, torch backend) after porting the
weights, so the block's modules must pair with the Keras layers the helper made.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import re
import textwrap
from typing import Any

import keras
import pytest

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install

pytestmark = pytest.mark.slow

KERAS = "import keras\nfrom keras import layers\n\n"


def converted(src: str, builder: str) -> tuple[str, Any, Any]:
    """Convert cleanly, build both sides, port the weights, compare the outputs."""
    src = textwrap.dedent(src)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "keras" not in code and "tensorflow" not in code, code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = eval(builder, exec_source(src, "k2l_original"))
    module = eval(builder, exec_source(code, "k2l_converted"))
    eq = compare(keras_model, module)
    assert eq.passed, f"{eq.message}\n{code}"
    assert max(len(line) for line in code.splitlines()) <= 100, code
    return code, keras_model, module


def check(src: str, builder: str) -> str:
    return converted(src, builder)[0]


def _class(code: str, name: str) -> str:
    m = re.search(rf"^class {name}\(nn\.Module\):\n(?:(?:    .*)?\n)+", code, re.M)
    assert m is not None, code
    return m.group(0)


def test_conv_block_called_three_times() -> None:
    code = check(KERAS + """
def conv_block(x, filters):
    x = layers.Conv2D(filters, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def build_model(num_classes=4):
    inputs = keras.Input(shape=(8, 8, 3))
    x = conv_block(inputs, 6)
    x = conv_block(x, 5)
    x = conv_block(x, 5)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes)(x))
""", "build_model()")
    block = _class(code, "ConvBlock")
    assert "def __init__(self, in_channels: int, filters: int) -> None:" in block
    assert "self.conv2d = nn.Conv2d(in_channels, filters, kernel_size=3, padding=1)" in block
    assert "nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01)" in block
    # each call feeds the next: one nn.Sequential, called once
    assert "self.conv_blocks = nn.Sequential(\n" in code
    assert "ConvBlock(3, 6),\n            ConvBlock(6, 5),\n            ConvBlock(5, 5),\n" in code
    assert "x = self.conv_blocks(inputs)" in code  # the name the caller gave
    assert code.count("nn.Conv2d(") == 1  # one declaration, in the block
    assert "def conv_block" not in code


def test_residual_block_with_add() -> None:
    code = check(KERAS + """
def res_block(x, filters, kernel=3):
    skip = layers.Conv2D(filters, 1)(x)
    y = layers.Conv2D(filters, kernel, padding="same", activation="relu")(x)
    y = layers.Conv2D(filters, kernel, padding="same")(y)
    y = layers.Add()([y, skip])
    return layers.Activation("relu")(y)


def build_model():
    inputs = keras.Input(shape=(8, 8, 2))
    x = res_block(inputs, 4)
    x = res_block(x, 6, kernel=5)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(3)(x))
""", "build_model()")
    block = _class(code, "ResBlock")
    # the padding Keras's "same" needs differs with the kernel: a parameter of its own
    assert "(self, in_channels: int, padding: int, filters: int, kernel: int) -> None:" in block
    assert "y = y + skip" in block
    assert "ResBlock(2, 1, 4, 3),\n            ResBlock(4, 2, 6, 5),\n" in code


def test_block_in_an_unrolled_loop() -> None:
    code = check(KERAS + """
def dense_block(t, units):
    t = layers.Dense(units)(t)
    t = layers.LayerNormalization()(t)
    return layers.Activation("gelu")(t)


def build_model():
    inputs = keras.Input(shape=(7,))
    x = inputs
    for f in [32, 64]:
        x = dense_block(x, f)
        x = layers.Dropout(0.1)(x)
    return keras.Model(inputs, layers.Dense(2)(x))
""", "build_model()")
    block = _class(code, "DenseBlock")
    assert "def __init__(self, in_features: int, units: int) -> None:" in block
    # a Dropout between the calls: one attribute per call
    assert "self.dense_block = DenseBlock(7, 32)" in code
    assert "self.dense_block_1 = DenseBlock(32, 64)" in code


def test_block_sized_by_a_builder_parameter_in_a_range_loop() -> None:
    """The caller reuses one name for a helper's local and its returned temporary in the
    first call only: the class takes the forward whose names stay distinct."""
    code = check(KERAS + """
def mixer(x, width):
    h = layers.Dense(width, activation="gelu")(x)
    h = layers.Dense(width)(h)
    x = layers.Add()([x, h])
    return layers.LayerNormalization()(x)


def build_model(width=8, depth=3):
    inputs = keras.Input(shape=(5,))
    x = layers.Dense(width)(inputs)
    for _ in range(depth):
        x = mixer(x, width)
    return keras.Model(inputs, layers.Dense(1)(x))
""", "build_model()")
    block = _class(code, "Mixer")
    assert "def __init__(self, width: int) -> None:" in block
    assert "self.dense = nn.Linear(width, width)" in block
    # the loop over the builder's depth builds the blocks (rolled_loops.py): no assert
    assert "self.mixers = nn.Sequential(*(Mixer(width) for _ in range(depth)))" in code
    assert "assert depth" not in code


def test_caller_names_with_an_alias_of_the_old_tensor() -> None:
    """``skip = x; x = block(x, 4); ...; x + skip``: the outputs take the caller's name
    ``x`` while ``skip`` still holds the tensor ``x`` named before (the comparison with
    Keras fails if a rename reads the wrong one)."""
    code = check(KERAS + """
def unit(x, units):
    x = layers.Dense(units, activation="relu")(x)
    return layers.Dense(units)(x)


def build_model():
    inputs = keras.Input(shape=(4,))
    x = layers.Dense(4)(inputs)
    skip = x
    x = unit(x, 4)
    x = layers.Dropout(0.1)(x)
    x = unit(x, 4)
    x = layers.Add()([x, skip])
    return keras.Model(inputs, x)
""", "build_model()")
    assert "class Unit(nn.Module):" in code
    assert "x = self.unit(x)" in code and "x = x + skip" in code


def test_helper_with_two_outputs() -> None:
    code = check(KERAS + """
def split_heads(x, units):
    a = layers.Dense(units)(x)
    b = layers.Dense(units, activation="relu")(x)
    return a, b


def build_model():
    inputs = keras.Input(shape=(6,))
    left, right = split_heads(inputs, 5)
    x = layers.Concatenate()([left, right])
    left, right = split_heads(x, 3)
    return keras.Model(inputs, [left, right])
""", "build_model()")
    block = _class(code, "SplitHeads")
    assert "-> tuple[torch.Tensor, torch.Tensor]:" in block
    assert "return a, b" in block
    assert "self.split_heads = SplitHeads(6, 5)" in code
    assert "self.split_heads_1 = SplitHeads(10, 3)" in code
    # the caller's names, rebound by the second call as in the source
    assert "left, right = self.split_heads(inputs)" in code
    assert "left, right = self.split_heads_1(x)" in code


def test_regularized_layers_in_a_block_keep_their_penalty() -> None:
    code, keras_model, module = converted(KERAS + """
def dense_block(x, units):
    x = layers.Dense(units, kernel_regularizer=keras.regularizers.l2(0.01))(x)
    return layers.Activation("relu")(x)


def build_model():
    inputs = keras.Input(shape=(5,))
    x = dense_block(inputs, 6)
    x = dense_block(x, 4)
    return keras.Model(inputs, layers.Dense(1)(x))
""", "build_model()")
    assert "DenseBlock(5, 6),\n            DenseBlock(6, 4),\n" in code
    assert "self.dense_blocks[1].dense.weight.square().sum()" in code
    penalty = float(sum(float(v.detach().cpu()) for v in keras_model.losses))
    assert penalty > 0
    got = float(module.regularization_loss())
    assert abs(got - penalty) <= 1e-5 * max(1.0, penalty), (got, penalty)


def test_helper_called_once_stays_inlined() -> None:
    code = check(KERAS + """
def conv_block(x, filters):
    x = layers.Conv2D(filters, 3, padding="same")(x)
    return layers.Activation("relu")(x)


def build_model():
    inputs = keras.Input(shape=(8, 8, 3))
    x = conv_block(inputs, 4)
    return keras.Model(inputs, layers.Flatten()(x))
""", "build_model()")
    assert "class ConvBlock" not in code and "nn.Conv2d(3, 4" in code


def test_helper_reading_a_layer_of_the_caller_stays_inlined() -> None:
    """A layer made outside the helper and shared by its calls: the module cannot own it."""
    code = check(KERAS + """
def head(x, units, out):
    x = layers.Dense(units)(x)
    return out(x)


def build_model():
    shared = layers.Dense(4)
    inputs = keras.Input(shape=(3,))
    a = head(inputs, 4, shared)
    return keras.Model(inputs, head(a, 4, shared))
""", "build_model()")
    assert "class Head" not in code
    assert "self.shared = nn.Linear(4, 4)" in code
