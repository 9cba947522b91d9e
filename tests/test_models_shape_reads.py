"""Sizes read off Keras tensors (``x.shape[-1]``, ``K.int_shape(x)``) and layers bound to a
variable before they are wrapped: each program is converted and compared with Keras."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import libcst as cst
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.values import evaluate
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow


def test_squeeze_excite_helper_sized_from_the_channels_of_its_input() -> None:
    code = check(KERAS + """
def squeeze_excite(x, ratio=4):
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D()(x)
    s = layers.Dense(channels // ratio, activation="relu")(s)
    s = layers.Dense(channels, activation="sigmoid")(s)
    s = layers.Reshape((1, 1, channels))(s)
    return layers.Multiply()([x, s])


def build_model():
    inputs = keras.Input(shape=(6, 6, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = squeeze_excite(x)
    x = layers.Conv2D(12, 3)(x)
    x = squeeze_excite(x, ratio=3)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2)(x))
""", "build_model()")
    assert "nn.Linear(8, 2)" in code and "nn.Linear(12, 4)" in code, code
    assert "def squeeze_excite" not in code


def test_attention_helper_reading_sizes_in_several_spellings() -> None:
    code = check(KERAS + """
def attention(x):
    dim = keras.ops.shape(x)[-1]
    q = layers.Dense(dim // 2)(x)
    k = layers.Dense(list(x.shape)[-1] // 2)(x)
    scores = layers.Dot(axes=2)([q, k])
    scores = layers.Softmax()(scores)
    return layers.Dot(axes=(2, 1))([scores, x])


def build_model():
    inputs = keras.Input(shape=(4, 4, 3))
    x = layers.Conv2D(6, 1)(inputs)
    _, h, w, c = keras.ops.shape(x)
    x = layers.Reshape((h * w, tuple(x.shape)[-1]))(x)
    x = attention(x)
    x = layers.Dense(int(x.shape[-1]) * 2)(x)
    x = layers.Reshape(x.shape[1:] + (1,))(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(3)(x))
""", "build_model()")
    assert "nn.Linear(6, 3)" in code and "nn.Linear(6, 12)" in code, code
    assert "def attention" not in code


def test_keras2_spellings_of_a_static_size() -> None:
    # K.int_shape and get_shape() (Keras 2 / tf.keras) read the same static sizes
    result = convert_source(textwrap.dedent("""import keras
from keras import backend as K
from keras import layers


def build_model():
    inputs = keras.Input(shape=(4, 4, 3))
    x = layers.Conv2D(6, 1)(inputs)
    x = layers.Reshape((16, K.int_shape(x)[-1]))(x)
    x = layers.Dense(x.get_shape()[-1] * 2)(x)
    x = layers.Dense(x.shape.as_list()[-1] + 1)(x)
    return keras.Model(inputs, x)
"""), "model.py")
    assert not result.unmapped, result.unmapped
    code = result.source
    assert "nn.Linear(6, 12)" in code and "nn.Linear(12, 13)" in code, code
    assert "reshape(x.size(0), 16, 6)" in code, code


def test_batch_axis_stays_a_run_time_read() -> None:
    # (Keras 3 on torch cannot trace tf.shape(x)[0] symbolically: the converted model runs)
    result = convert_source(textwrap.dedent("""import keras
import tensorflow as tf
from keras import layers


def build_model():
    inputs = keras.Input(shape=(5, 4))
    x = layers.Dense(6)(inputs)
    x = tf.reshape(x, (tf.shape(x)[0], x.shape[1] * x.shape[2]))
    return keras.Model(inputs, layers.Dense(2)(x))
"""), "model.py")
    assert not result.unmapped, result.unmapped
    assert ".shape[0], 5 * 6)" in result.source, result.source
    module = exec_source(result.source, "k2l_converted")["build_model"]()
    assert tuple(module(torch.zeros(3, 5, 4)).shape) == (3, 2)


def test_unknown_length_is_not_replaced() -> None:
    result = convert_source(textwrap.dedent(KERAS + """
def build_model():
    inputs = keras.Input(shape=(None, 4))
    x = layers.Dense(8)(inputs)
    x = layers.Dense(x.shape[1] + inputs.shape[-1])(x)
    return keras.Model(inputs, x)
"""), "model.py")
    # the sequence length is None in Keras: no size is invented for it, and a layer sized
    # from it is reported instead of reading a tensor in __init__
    assert "x.shape[1] + 4" not in result.source, result.source
    assert any("x.shape[1], a size unknown" in u.reason for u in result.unmapped)


def test_bidirectional_and_time_distributed_of_bound_layers_in_a_loop() -> None:
    code = check(KERAS + """
def build_model(depth=2):
    inputs = keras.Input(shape=(6, 5))
    x = inputs
    for i in range(depth):
        recurrent = layers.GRU(4, return_sequences=True, name=f"gru_{i}")
        x = layers.Bidirectional(recurrent, merge_mode="concat", name=f"bi_{i}")(x)
    dense = layers.Dense(3)
    x = layers.TimeDistributed(dense)(x)
    return keras.Model(inputs, x)
""", "build_model()")
    assert "self.bi_0 = nn.GRU(5, 4" in code and "self.bi_1 = nn.GRU(8, 4" in code, code


def test_bound_layer_in_a_helper_wrapped_and_called_shares_weights() -> None:
    # the same GRU object called directly and wrapped: Bidirectional copies it (its own
    # weights), the direct calls share one module
    check(KERAS + """
def block(x, units):
    recurrent = layers.LSTM(units, return_sequences=True)
    y = layers.Bidirectional(recurrent)(x)
    z = recurrent(x)
    z = recurrent(z)
    return layers.Concatenate()([y, z])


def build_model():
    inputs = keras.Input(shape=(5, 4))
    x = block(inputs, 4)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(2)(x))
""", "build_model()")


def test_time_distributed_layer_also_called_directly_is_reported() -> None:
    result = convert_source(textwrap.dedent(KERAS + """
def build_model():
    inputs = keras.Input(shape=(3, 4))
    dense = layers.Dense(4)
    x = layers.TimeDistributed(dense)(inputs)
    x = dense(x)
    return keras.Model(inputs, x)
"""), "model.py")
    assert any("shared weights" in u.reason for u in result.unmapped), result.unmapped


@pytest.mark.parametrize(("code", "value"), [
    ('f"block_{i}_conv"', "block_3_conv"), ('f"{name}{i}"', "b3"), ('f"x_{i!r}"', None),
    ('f"{{i}}"', None), ('f"{scale}"', None)])
def test_f_string_names_evaluate_when_every_part_is_known(code: str, value: str | None
                                                          ) -> None:
    got = evaluate(cst.parse_expression(code), {"i": 3, "name": "b", "scale": 0.5}).value
    assert (got if isinstance(got, str) else None) == value


def test_shape_bound_to_a_name_sizes_a_second_model() -> None:
    # an encoder's output shape, kept in a variable, sizes the decoder built after it
    code = check(KERAS + """
inputs = keras.Input(shape=(8, 8, 1))
x = inputs
for filters in [4, 6]:
    x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
shape = x.shape
x = layers.Flatten()(x)
encoder = keras.Model(inputs, layers.Dense(5)(x))

latent = keras.Input(shape=(5,))
x = layers.Dense(shape[1] * shape[2] * shape[3])(latent)
x = layers.Reshape((shape[1], shape[2], shape[3]))(x)
x = layers.Conv2DTranspose(1, 3, strides=2, padding="same")(x)
decoder = keras.Model(latent, x)
""", "decoder")
    assert "nn.Linear(5, 24)" in code and "shape[1]" not in code, code


def test_size_computed_from_a_builder_parameter_is_written_as_its_code() -> None:
    # the frequency axis depends on input_dim: its size is code in the class's parameters,
    # the time axis (None) stays -1, the channels are an int
    code = check(KERAS + """
def build_model(input_dim, units=4):
    inputs = layers.Input((None, input_dim))
    x = layers.Reshape((-1, input_dim, 1))(inputs)
    x = layers.Conv2D(3, 3, strides=2, padding="same")(x)
    x = layers.Reshape((-1, x.shape[-2] * x.shape[-1]))(x)
    for i in range(1, 3):
        recurrent = layers.GRU(units, return_sequences=True, name=f"gru_{i}")
        x = layers.Bidirectional(recurrent, name=f"bidirectional_{i}")(x)
    return keras.Model(inputs, layers.Dense(x.shape[-1] // 2)(x))
""", "build_model(input_dim=7)")
    assert "x.shape[-2]" not in code and "nn.Linear(units * 2, (units * 2) // 2)" in code, code


def test_helper_sized_from_a_tensor_whose_channels_are_a_builder_parameter() -> None:
    # `channels` inside the helpers is the builder's `width` (times 2 after downsampling):
    # the class computes it from its own parameter
    code = check(KERAS + """
def channel_attention(x):
    channels = list(x.shape)[-1]
    s = layers.GlobalAveragePooling2D()(x)
    s = keras.ops.reshape(s, (-1, 1, 1, channels))
    s = layers.Conv2D(channels // 2, 1, activation="relu")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid")(s)
    return x * s


def downsample(x):
    channels = x.shape[-1]
    main = layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
    main = layers.MaxPooling2D()(main)
    main = layers.Conv2D(channels * 2, 1)(main)
    skip = layers.Conv2D(channels * 2, 1)(layers.MaxPooling2D()(x))
    return layers.Add()([skip, main])


def build_model(width, blocks=2):
    inputs = keras.Input(shape=(None, None, 3))
    x = layers.Conv2D(width, 3, padding="same")(inputs)
    for _ in range(blocks):
        x = downsample(x)
        x = channel_attention(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2)(x))
""", "build_model(width=4)")
    assert "nn.Conv2d(width, width * 2, kernel_size=1)" in code, code
    assert "def downsample" not in code and "def channel_attention" not in code
