"""Sizes and axes the rules follow through a graph (issue 9, real models).

A softmax over a named axis after an op the rules do not size (the layout is still Keras's
own), target shapes held in builder locals or in builder parameters whose calls write a tuple
with run-time entries, framework products of sizes (``Dense(tf.math.reduce_prod(shape))``),
and a custom layer whose ``build`` makes a weight under an ``if`` with ``else: ... = None``.
Each program is converted, both sides built (Keras 3 on torch), weights ported, outputs
compared (tests/test_models_graphs.py's ``check``).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import pytest

from agent.rules.convert import convert_source
from tests.test_models_feature_dicts import check as lazy_check
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow

TF = KERAS + "import tensorflow as tf\n\n"


@pytest.mark.parametrize("op,axis", [("keras.ops.cumsum(x, axis=1)", 1),
                                     ("tf.math.cumsum(x, axis=1)", -2),
                                     ("keras.ops.cumsum(x, axis=2)", 2)])
def test_softmax_over_an_axis_after_an_op_the_rules_do_not_size(op: str, axis: int) -> None:
    """No channels-first permute happened upstream: Keras's axis is torch's dim whatever
    the rank the op left."""
    code = check(TF + f"""
def build(n=4, d=3):
    inp = layers.Input((8,))
    x = layers.Dense(n * d)(inp)
    x = layers.Reshape((n, d))(x)
    x = {op}
    return keras.Model(inp, layers.Softmax(axis={axis})(x))
""", "build()")
    assert f"F.softmax(x, dim={axis})" in code


def test_a_transpose_keeps_sizes_known_for_the_layers_after_it() -> None:
    code = check(TF + """
def build():
    z = layers.Input((8,))
    a = layers.Dense(2 * 3 * 3)(z)
    a = layers.Reshape((2, 3, 3))(a)
    a = (a + tf.transpose(a, (0, 1, 3, 2))) / 2
    a = layers.Softmax(axis=1)(a)
    return keras.Model(z, layers.Dense(4)(a))
""", "build()")
    assert "nn.Linear(3, 4)" in code


GENERATOR = TF + """
import json

NODES = 4
KINDS = int(__import__("os").environ.get("K2L_TEST_KINDS", "3"))  # known when it runs


def generator(units, adjacency_shape, feature_shape):
    z = layers.Input(shape=(8,))
    x = z
    for u in units:
        x = layers.Dense(u, activation="tanh")(x)
    a = layers.Dense(int(tf.math.reduce_prod(adjacency_shape)))(x)
    a = layers.Reshape(adjacency_shape)(a)
    a = (a + tf.transpose(a, (0, 1, 3, 2))) / 2
    a = layers.Softmax(axis=1)(a)
    f = layers.Dense(int(tf.math.reduce_prod(feature_shape)))(x)
    f = layers.Reshape(feature_shape)(f)
    f = layers.Softmax(axis=2)(f)
    return keras.Model(z, [a, f])


model = generator([6], adjacency_shape=(3, NODES, NODES), feature_shape=(NODES, KINDS))
"""


def test_target_shapes_the_calls_write_with_run_time_entries() -> None:
    """``feature_shape=(NODES, KINDS)``: the rank is the tuple's length, the sizes are read
    when the class runs; ``tf.math.reduce_prod`` of sizes is ``math.prod``."""
    code = check(GENERATOR, "model")
    assert "int(math.prod(feature_shape))" in code and "import math" in code
    assert "unflatten(1, self.reshape_1_shape)" in code
    assert "F.softmax(f, dim=-1)" in code  # axis 2 of a rank-2 target: the last


def test_a_target_shape_of_no_known_rank_is_still_reported() -> None:
    src = GENERATOR.replace("feature_shape=(NODES, KINDS)", "feature_shape=tuple(SHAPES)")
    src = src.replace("NODES = 4\n", "NODES = 4\nSHAPES = json.loads(__import__('os').environ.get('K2L_TEST_SHAPES', '[4, 3]'))\n")
    result = convert_source(textwrap.dedent(src), "model.py")
    assert any(u.keras_name == "Reshape" and "feature_shape" in u.reason
               for u in result.unmapped), result.unmapped


def test_products_of_known_sizes_are_folded() -> None:
    code = check(TF + """
import numpy as np

SHAPE = (3, 4)


def build(shape=(2, 3)):
    inp = layers.Input((5,))
    x = layers.Reshape(SHAPE)(layers.Dense(int(tf.math.reduce_prod(SHAPE)))(inp))
    y = layers.Reshape(shape)(layers.Dense(int(keras.ops.prod(shape)))(inp))
    cells = (2, 2)
    z = layers.Dense(int(np.prod(cells)) * 2)(inp)
    return keras.Model(inp, [x, y, z])
""", "build()")
    assert "int(math.prod(shape))" in code
    assert "nn.Linear(5, 8)" in code  # a builder local the class cannot see: its value
    assert "np.prod(cells)" not in code


def test_a_target_shape_in_a_builder_local() -> None:
    code = check(KERAS + """
def build(n=4, d=3, pool=2):
    inp = layers.Input((8, 6, 1))
    x = layers.Conv2D(d, 3, padding="same")(inp)
    x = layers.MaxPooling2D(pool)(x)
    rows = 8
    dims = (rows // pool, (6 // pool) * d)
    x = layers.Reshape(target_shape=dims)(x)
    x = layers.Dense(n)(x)
    flat = (n * 4 // pool ** 2, pool ** 2)
    return keras.Model(inp, layers.Reshape(flat)(x))
""", "build()")
    assert "dims" not in code and "flat =" not in code


def test_a_builder_local_tuple_read_elsewhere_stays() -> None:
    src = KERAS + """
def build(n=4, d=3):
    inp = layers.Input((8,))
    dims = (n, d)
    x = layers.Reshape(target_shape=dims)(layers.Dense(n * d)(inp))
    print(dims)
    return keras.Model(inp, x)


model = build()
"""
    result = convert_source(textwrap.dedent(src), "model.py")
    assert not result.unmapped, result.unmapped
    assert "dims = (n, d)" in result.source and "print(dims)" in result.source


GATED = KERAS + """
class Gate(layers.Layer):
    def __init__(self, dim, gated=False, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.gated = gated

    def build(self, input_shape):
        d = input_shape[-1]
        self.w = self.add_weight(shape=(d, self.dim), initializer="glorot_uniform")
        if self.gated:
            self.u = self.add_weight(shape=(d, self.dim), initializer="glorot_uniform")
        else:
            self.u = None

    def call(self, x):
        h = keras.ops.tanh(keras.ops.matmul(x, self.w))
        if self.gated:
            h = h * keras.ops.sigmoid(keras.ops.matmul(x, self.u))
        return h


def build(gated):
    inp = layers.Input((5,))
    return keras.Model(inp, Gate(4, gated=gated)(inp))
"""


@pytest.mark.parametrize("gated", [True, False])
def test_a_weight_made_under_an_if_with_an_else_setting_none(gated: bool) -> None:
    code = check(GATED, f"build({gated})")
    assert 'self.register_parameter("u", None)' in code


SCALED = KERAS + """
class Scale(layers.Layer):
    def __init__(self, dim, shifted=False, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.shifted = shifted

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(self.dim,), initializer="random_normal")
        if self.shifted:
            self.shift = self.add_weight(shape=(self.dim,), initializer="random_normal")
        else:
            self.shift = None

    def call(self, x):
        x = x * self.scale
        if self.shift is not None:
            x = x + self.shift
        return x


def build(shifted):
    inp = layers.Input((4,))
    return keras.Model(inp, Scale(4, shifted=shifted)(inp))
"""


@pytest.mark.parametrize("shifted", [True, False])
def test_a_weight_of_a_known_shape_made_under_an_if_with_an_else(shifted: bool) -> None:
    """No input size needed: the weights are made in ``__init__``, the ``else`` registers
    the parameter as None (torch's optional-parameter idiom, ``self.shift`` reads None)."""
    code = check(SCALED, f"build({shifted})")
    assert 'self.register_parameter("shift", None)' in code


SLOTS = KERAS + """
def build(levels=2):
    inp = layers.Input((8, 8, 1))
    y = inp
    wheres = [None] * levels
    for i in range(levels):
        pre = layers.Conv2D(3, 3, padding="same", activation="relu")(y)
        y = layers.MaxPooling2D(2)(pre)
        wheres[i] = layers.Conv2D(3, 1)(pre)
    for i in range(levels):
        ind = levels - 1 - i
        y = layers.UpSampling2D(2)(y)
        y = layers.multiply([y, wheres[ind]])
        y = layers.Conv2D(3, 3, padding="same")(y)
    return keras.Model(inp, y)
"""


def test_tensors_stored_into_list_slots_and_read_back_by_index() -> None:
    """``wheres = [None] * n`` filled by ``wheres[i] = ...`` in one loop and read as
    ``wheres[n - 1 - i]`` in another: each slot is one tensor ``forward`` keeps."""
    code = check(SLOTS, "build()")
    assert "wheres_0 = " in code and "wheres_1 = " in code
    assert "y * wheres_1" in code and "y * wheres_0" in code


def test_a_slot_read_by_an_index_not_known_statically_is_reported() -> None:
    src = SLOTS.replace("wheres[ind]", "wheres[int(input())]") + "\n\nmodel = build()\n"
    result = convert_source(textwrap.dedent(src), "model.py")
    assert any("wheres" in u.reason for u in result.unmapped), result.unmapped


HELD_SHAPE = KERAS + """
import numpy as np


class Unflatten(layers.Layer):
    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.target = shape
        self.dense = layers.Dense(int(np.prod(shape)))
        self.reshape = layers.Reshape(self.target)

    def call(self, x):
        return self.reshape(self.dense(x))


class Decoder(keras.Model):
    def __init__(self, units, shape, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(units, activation="tanh")
        self.out = layers.Dense(int(np.prod(shape)))
        self.reshape = layers.Reshape(shape)

    def call(self, x):
        return self.reshape(self.out(self.hidden(x)))


def build(shape=(3, 4)):
    inp = layers.Input((5,))
    return keras.Model(inp, layers.Softmax(axis=1)(Unflatten(shape)(inp)))
"""


@pytest.mark.parametrize("builder", ["build()", "build((2, 3, 2))"])
def test_a_target_shape_a_custom_layer_receives(builder: str) -> None:
    """``Reshape(self.target)`` in a custom layer: the shape its constructor received,
    read at run time (``unflatten``); the softmax after it keeps Keras's axis."""
    code = lazy_check(HELD_SHAPE, builder)  # its Dense is sized by the first call
    assert "self.reshape_shape = self.target" in code


def test_a_target_shape_a_subclassed_model_receives() -> None:
    import keras
    import numpy as np
    import torch

    from agent.equivalence import exec_source, port_weights

    src = textwrap.dedent(HELD_SHAPE)
    result = convert_source(src, "model.py")
    assert not result.unmapped, result.unmapped
    assert "self.reshape_shape = shape" in result.source
    keras.utils.set_random_seed(0)
    original = exec_source(src, "k2l_original")["Decoder"](8, (3, 4))
    x = np.random.default_rng(0).normal(size=(2, 5)).astype("float32")
    ref = keras.ops.convert_to_numpy(original(x))
    module = exec_source(result.source, "k2l_converted")["Decoder"](8, (3, 4))
    with torch.no_grad():
        module(torch.as_tensor(x))  # sizes its lazy first layer, as Keras's first call did
    port_weights(original, module)
    module.eval()
    with torch.no_grad():
        got = module(torch.as_tensor(x)).numpy()
    assert got.shape == ref.shape == (2, 3, 4)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_a_resolved_format_branch_another_kept_model_reads_stays() -> None:
    """A converted model owns the ``image_data_format()`` branch binding ``input_shape``;
    a second model the rules leave as Keras (``Model(...).summary()``) still reads it, so
    the resolved branch stays (removed, the kept code read an undefined name)."""
    src = KERAS + """
from keras import backend as K


def build(w):
    if K.image_data_format() == "channels_first":
        input_shape = (1, w, 8)
    else:
        input_shape = (w, 8, 1)
    inp = layers.Input(shape=input_shape)
    x = layers.Conv2D(4, 3, padding="same")(inp)
    dims = (w, 8 * 4)
    y = layers.Dense(3)(layers.Reshape(target_shape=dims)(x))
    keras.Model(inp, y).summary()
    return keras.Model(inp, layers.Dense(2)(y))


model = build(6)
"""
    result = convert_source(textwrap.dedent(src), "model.py")
    assert not result.unmapped, result.unmapped
    assert "input_shape = (w, 8, 1)" in result.source
    assert "dims = (w, 8 * 4)" in result.source and "Build(w=w)" in result.source


def test_a_dict_of_inputs_from_a_helper_is_reported_by_its_keys() -> None:
    """Not followed yet (README): the report names the dict by its keys instead of printing
    every ``Input(..., dtype=tf.string)`` line of it."""
    src = TF + """
def make_inputs():
    return {
        "user": layers.Input(name="user", shape=(1,), dtype=tf.string),
        "rating": layers.Input(name="rating", shape=(3,), dtype=tf.float32),
    }


def build():
    inputs = make_inputs()
    return keras.Model(inputs=inputs, outputs=layers.Dense(4)(inputs["rating"]))


model = build()
"""
    result = convert_source(textwrap.dedent(src), "model.py")
    reasons = [u.reason for u in result.unmapped]
    assert "a dict of tensors ({'user', 'rating'}) returned by a helper function is not " \
           "followed: the model needs a person or the LLM stage" in reasons, reasons
    assert not any("layers.Input(" in r for r in reasons), reasons
