"""Layer configuration a builder takes as parameters (issue 9, real models).

Activations, initializers and target shapes held in a builder's parameters, layer classes
passed as arguments (``dropout=AlphaDropout``, ``**config`` dicts), ``model.add`` in a loop
over ``range(param)``. Each converted program is compared with Keras 3 (torch backend).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import ast
import textwrap

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.models.class_args import class_arguments
from agent.rules.semantics import changes_semantics
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow

ACTIVATIONS = KERAS + """
def dense_stack(act="relu", units=6):
    inp = layers.Input(shape=(4,))
    x = layers.Dense(units, activation=act)(inp)
    x = layers.Activation(act)(x)
    return keras.Model(inp, layers.Dense(2)(x))
"""


def test_activation_every_call_leaves_at_its_default_is_written_out() -> None:
    code = check(ACTIVATIONS + "\nmodel = dense_stack()\n", "dense_stack()")
    assert "F.relu(self.dense(inp))" in code and "activation_by_name" not in code, code
    assert 'assert act == "relu", "k2l: layers were configured for act=' in code, code
    result = convert_source(textwrap.dedent(ACTIVATIONS + "\nmodel = dense_stack()\n"))
    assert any("layer option for act='relu'" in w.message for w in result.warnings)


def test_activation_the_calls_set_differently_is_looked_up_at_run_time() -> None:
    src = ACTIVATIONS + '\na = dense_stack("elu")\nb = dense_stack(act="selu")\n'
    code = check(src, 'dense_stack("elu")')
    check(src, 'dense_stack("selu")')
    assert "activation_by_name(self.act)(self.dense(inp))" in code, code
    assert "assert act" not in code, code


def test_initializer_held_in_a_parameter_draws_with_fans_of() -> None:
    """A wide-in, narrow-out kernel: Keras's fan_in is the input size; torch's weight is
    (out, in), so a lookup on it unpermuted would scale by the output size."""
    src = KERAS + """
def wide(init="he_normal", units=20):
    inp = layers.Input(shape=(400,))
    return keras.Model(inp, layers.Dense(units, kernel_initializer=init)(inp))


a = wide("he_normal")
b = wide("lecun_uniform")
"""
    code = check(src, 'wide("he_normal")')
    assert "initializer_by_name(init)" in code, code
    ns = exec_source(code, "k2l_converted")
    torch.manual_seed(0)
    w = ns["wide"]("he_normal").dense.weight.detach().numpy()
    keras.utils.set_random_seed(0)
    k = keras.ops.convert_to_numpy(keras.initializers.get("he_normal")((400, 20)))
    assert w.shape == (20, 400)
    assert abs(w.std() / k.std() - 1) < 0.1, (w.std(), k.std())
    w = ns["wide"]("lecun_uniform").dense.weight.detach().numpy()
    assert abs(np.abs(w).max() - (3 / 400) ** 0.5) < 0.01


def test_target_shape_from_a_parameter_every_call_passes() -> None:
    code = check(KERAS + """
import numpy as np
SHAPE = (4, 3)


def generator(feature_shape=(9, 5), latent=8):
    z = layers.Input(shape=(latent,))
    f = layers.Dense(int(np.prod(feature_shape)))(z)
    f = layers.Reshape(feature_shape)(f)
    g = layers.Reshape(target_shape=SHAPE)(layers.Dense(12)(z))
    return keras.Model(z, [layers.Dense(3)(f), g])


model = generator()
""", "generator()")
    assert "f.reshape(f.size(0), 9, 5)" in code and "assert feature_shape == (9, 5)" in code


VARYING_SHAPES = KERAS + """
A = 3


def generator(feature_shape=(9, 5), latent=8):
    z = layers.Input(shape=(latent,))
    f = layers.Reshape(feature_shape)(layers.Dense(45)(z))
    return keras.Model(z, layers.Dense(2)(f))


m1 = generator()
m2 = generator((A, 15))
m3 = generator(feature_shape=(-1, 9))
"""


@pytest.mark.parametrize("call", ["generator()", "generator((A, 15))",
                                  "generator(feature_shape=(-1, 9))"])
def test_target_shape_the_calls_set_differently_is_read_at_run_time(call: str) -> None:
    code = check(VARYING_SHAPES, call)
    assert "f = h.flatten(1).unflatten(1, self.reshape_shape)" in code, code
    assert "assert feature_shape" not in code and "nn.LazyLinear(2)" in code, code
    result = convert_source(textwrap.dedent(VARYING_SHAPES))
    assert not any(changes_semantics(w.message) for w in result.warnings), result.warnings


def test_target_shapes_of_several_ranks_are_not_guessed() -> None:
    src = VARYING_SHAPES.replace("generator((A, 15))", "generator((3, 5, 3))")
    reasons = [u.reason for u in convert_source(textwrap.dedent(src)).unmapped]
    assert reasons == ["Reshape(target_shape=feature_shape) must be a literal or a tuple to "
                       "convert"], reasons


NETWORK = KERAS + """
max_words = 12


def create_network(n_dense=3, dense_units=8, activation="selu",
                   dropout=layers.AlphaDropout, dropout_rate=0.1,
                   kernel_initializer="lecun_normal", num_classes=1):
    model = keras.Sequential()
    model.add(layers.Dense(dense_units, input_shape=(max_words,),
                           kernel_initializer=kernel_initializer))
    model.add(layers.Activation(activation))
    model.add(dropout(dropout_rate))
    for i in range(n_dense - 1):
        model.add(layers.Dense(dense_units, kernel_initializer=kernel_initializer))
        model.add(layers.Activation(activation))
        model.add(dropout(dropout_rate))
    model.add(layers.Dense(num_classes))
    model.add(layers.Activation("sigmoid"))
    return model


RELU_NET = {"n_dense": 4, "activation": "relu", "dropout": layers.Dropout,
            "dropout_rate": 0.5}
SELU_NET = {"n_dense": 2, "activation": "selu", "dropout": layers.AlphaDropout}
for config in [RELU_NET, SELU_NET]:
    model = create_network(**config)
"""


@pytest.mark.parametrize("config", ["RELU_NET", "SELU_NET"])
def test_sequential_loop_passed_class_and_config_dicts(config: str) -> None:
    code = check(NETWORK, f"create_network(**{config})")
    flat = " ".join(code.split())
    assert "dropout: type[nn.Module] = nn.AlphaDropout" in code, code
    assert "for i in range(n_dense - 1) for module in (" in flat, code
    assert "KerasActivation(activation), dropout(dropout_rate)," in flat, code
    # the script passes torch classes: its dicts and the builder's default
    assert '"dropout": nn.Dropout' in code and "dropout=nn.AlphaDropout" in code, code
    ns = exec_source(code, "k2l_converted")
    model = ns["create_network"](**ns[config])
    n_dense = ns[config]["n_dense"]
    assert len(model.loop_layers) == 3 * (n_dense - 1)
    want = torch.nn.Dropout if config == "RELU_NET" else torch.nn.AlphaDropout
    assert isinstance(model.dropout, want) and isinstance(model.loop_layers[2], want)


def test_layer_classes_with_other_signatures_are_refused_with_one_line() -> None:
    src = textwrap.dedent(KERAS + """
def build(norm=layers.BatchNormalization, units=8):
    inp = layers.Input(shape=(4,))
    x = norm()(layers.Dense(units)(inp))
    return keras.Model(inp, x)


a = build(norm=layers.LayerNormalization)
""")
    result = convert_source(src)
    reasons = [u.reason for u in result.unmapped]
    assert len(reasons) == 1 and reasons[0].startswith(
        "norm(...) builds the layer class its callers pass (layers.BatchNormalization, "
        "layers.LayerNormalization)"), reasons


def test_a_function_passed_as_a_parameter_is_not_taken_for_a_layer_class() -> None:
    src = textwrap.dedent(KERAS + """
def build(make=layers.Dense, units=8):
    inp = layers.Input(shape=(4,))
    return keras.Model(inp, make(units)(inp))


a = build(make=layers.Dropout)
""")
    reasons = [u.reason for u in convert_source(src).unmapped]
    assert any("make(...) builds the layer class" in r for r in reasons), reasons


def test_values_reaching_a_parameter() -> None:
    tree = ast.parse(textwrap.dedent("""
        def f(a=1, b=layers.Dropout):
            pass
        ONE = {"b": layers.AlphaDropout}
        TWO = {"a": 2}
        for cfg in [ONE, TWO]:
            f(**cfg)
        f(3, b=layers.GaussianDropout)
        g = {"b": 1}
        g = {}
        f(**g)
    """))
    reach = class_arguments(tree.body)["f"]
    assert reach["a"] is None and reach["b"] is None  # `g` is bound twice: not read
    tree = ast.parse(textwrap.dedent("""
        def f(a=1, b=layers.Dropout):
            pass
        ONE = {"b": layers.AlphaDropout}
        for cfg in [ONE]:
            f(**cfg)
        f(3, b=layers.GaussianDropout)
    """))
    reach = class_arguments(tree.body)["f"]
    assert reach["b"] == ["layers.Dropout", "layers.AlphaDropout", "layers.GaussianDropout"]
    assert reach["a"] == ["1", "3"]


def test_softmax_axis_after_transpose_arithmetic_is_placed() -> None:
    """A target shape now known puts a Softmax(axis=1) after ``tf.transpose`` arithmetic:
    the rules size it (and the layout is Keras's own), so the axis is dim 1, never -1
    (tests/test_graph_sizes.py compares it with Keras)."""
    src = textwrap.dedent("""
        import keras
        import tensorflow as tf


        def decoder(shape=(4, 3, 3)):
            z = keras.Input(shape=(6,))
            a = keras.layers.Reshape(shape)(keras.layers.Dense(36)(z))
            a = (a + tf.transpose(a, (0, 1, 3, 2))) / 2
            return keras.Model(z, keras.layers.Softmax(axis=1)(a))


        model = decoder()
    """)
    result = convert_source(src)
    assert "dim=-1" not in result.source, result.source
    assert "F.softmax(a, dim=1)" in result.source, result.source
    assert not result.unmapped, result.unmapped


def test_a_layer_name_from_a_parameter_is_not_asserted() -> None:
    src = KERAS + textwrap.dedent("""
        def head(units=3, name="out"):
            inp = layers.Input(shape=(4,))
            return keras.Model(inp, layers.Dense(units, name=name)(inp))


        model = head()
    """)
    result = convert_source(src)
    assert "class Head(" in result.source and "nn.Linear(4, units)" in result.source
    assert "assert name" not in result.source and not result.warnings, result.source
