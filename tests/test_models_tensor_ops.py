"""Functional graphs with tf / keras.ops calls between layers (issue 9 point 7).

The tracer follows ``tf.reduce_mean(x)``, ``keras.ops.concatenate([a, b])`` and arithmetic
on Keras tensors through the op table; names those expressions read become visible in
``forward``. Each converted program is compared with its Keras original (Keras 3, torch).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import pytest

from agent.rules.convert import convert_source
from tests.test_models_graphs import check

pytestmark = pytest.mark.slow

TF = "import tensorflow as tf\nfrom tensorflow import keras\nfrom tensorflow.keras import layers\n\n"
K3 = "import keras\nfrom keras import layers, ops\n\n"


def test_tf_reductions_and_concat_between_layers() -> None:
    code = check(TF + """
def build_model():
    inputs = keras.Input(shape=(6, 4))
    x = layers.Dense(5, activation="relu")(inputs)
    pooled = tf.reduce_mean(x, axis=1)
    peak = tf.reduce_max(x, axis=1)
    x = tf.concat([pooled, peak], axis=-1)
    return keras.Model(inputs, layers.Dense(2)(x))
""", "build_model()")
    assert "torch.cat(" in code and "torch.mean(" in code


def test_keras_ops_and_arithmetic_with_a_builder_parameter() -> None:
    """``x * scale`` reads the builder's parameter: the class takes it and forward reads
    ``self.scale`` set in ``__init__`` (a bare ``scale`` would be an undefined name there;
    ``self.hparams.scale`` would be untyped for mypy)."""
    src = K3 + """
def build_model(scale=0.5, units=3):
    inputs = keras.Input(shape=(4,))
    x = layers.Dense(units)(inputs)
    x = ops.expand_dims(x * scale + 1.0, axis=1)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(2)(x))
"""
    code = check(src, "build_model()")
    assert "* self.scale" in code and "self.scale = scale" in code
    assert "hparams.scale" not in code
    check(src.replace("build_model()", "build_model(scale=3.0)"), "build_model(scale=3.0)")


def test_a_constant_of_the_builder_is_written_as_its_value() -> None:
    code = check(K3 + """
def build_model():
    inputs = keras.Input(shape=(4,))
    shift = 2
    x = layers.Dense(3)(inputs) - shift
    return keras.Model(inputs, x)
""", "build_model()")
    assert "- 2" in code


def test_a_shape_query_stays_a_size_not_a_graph_node() -> None:
    """``shape = K.int_shape(x)`` reads a size for later layer arguments; it is no tensor
    of the graph (which would make the layers that read it unconvertible)."""
    src = textwrap.dedent("""
import keras
from keras import backend as K
from keras import layers

inputs = keras.Input(shape=(4, 4, 2))
x = layers.Conv2D(3, 3, padding="same")(inputs)
shape = K.int_shape(x)
x = layers.Flatten()(x)
x = layers.Dense(shape[1] * shape[3])(x)
model = keras.Model(inputs, x)
""")
    result = convert_source(src)
    assert not any("shape" in u.reason for u in result.unmapped), result.unmapped
    assert "class Model(pl.LightningModule)" in result.source or \
        "(pl.LightningModule)" in result.source, result.source


def test_a_model_using_an_unconverted_submodel_stays_keras_too() -> None:
    """The outer model must not name a class that was never generated."""
    src = textwrap.dedent(K3 + """
inner_in = keras.Input(shape=(4,))
h = layers.Dropout(0.5)(layers.Dense(4)(inner_in), training=True)
inner = keras.Model(inner_in, h)

outer_in = keras.Input(shape=(4,))
outer = keras.Model(outer_in, layers.Dense(2)(inner(outer_in)))
""")
    result = convert_source(src)
    assert "(pl.LightningModule)" not in result.source, result.source
    assert any("submodel inner was not converted" in u.reason for u in result.unmapped), \
        result.unmapped


def test_expressions_as_layer_inputs_helper_results_and_model_outputs() -> None:
    """``Dense(4)(a + inputs)``, a helper ending ``return x * g``, ``Model(i, x * 2.0)``."""
    check(K3 + """
def gate(x, units):
    g = layers.Dense(units, activation="sigmoid")(x)
    return x * g


def build_model():
    inputs = keras.Input(shape=(8,))
    a = layers.Dense(8)(inputs)
    x = layers.Dense(4)(a + inputs)
    x = gate(x, 4)
    return keras.Model(inputs, x * 2.0)
""", "build_model()")


def test_ranks_after_reductions_expand_dims_and_reshape_reach_later_layers() -> None:
    """A spatial-attention helper: reductions over channels, expand_dims, a Concatenate and
    a 1x1 conv on the result, then a flat reshape before a Dense: every size is known."""
    code = check(TF + """
def spatial_attention(t):
    a = tf.reduce_max(t, axis=-1)
    a = tf.expand_dims(a, axis=-1)
    m = tf.reduce_mean(t, axis=-1, keepdims=True)
    c = layers.Concatenate(axis=-1)([a, m])
    f = layers.Conv2D(1, kernel_size=(1, 1))(c)
    f = tf.nn.sigmoid(f)
    return t * f


def build_model():
    inputs = keras.Input(shape=(6, 6, 4))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    x = spatial_attention(x)
    x = tf.reshape(x, (-1, 6 * 6 * 4))
    return keras.Model(inputs, layers.Dense(3)(x))
""", "build_model()")
    assert "nn.Conv2d(2, 1, kernel_size=1)" in code and "nn.Linear(144, 3)" in code
    assert "Lazy" not in code


def test_a_size_read_from_a_tensor_inside_a_helper_fails_the_model_cleanly() -> None:
    """``channels = x.shape[-1]`` in an inlined helper, where the channels are unknown
    statically (a known size is an int: tests/test_models_shape_reads.py), cannot reach the
    class: the model is reported and left as written, never emitted with an undefined name."""
    src = textwrap.dedent(K3 + """
def block(x):
    channels = x.shape[-1]
    return layers.Conv2D(channels * 2, 1)(x)


def build_model():
    inputs = keras.Input(shape=(4, 4, None))
    return keras.Model(inputs, block(inputs))
""")
    result = convert_source(src)
    assert "(pl.LightningModule)" not in result.source
    assert any("inlined helper" in u.reason for u in result.unmapped), result.unmapped
