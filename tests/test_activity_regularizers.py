"""activity_regularizer= on layers: the converted step's loss equals Keras 3's (torch backend),
which adds regularizer(output) / batch size at each layer call."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.weights import port_weights

keras = pytest.importorskip("keras")


def _build(src: str) -> tuple[Any, Any, str]:
    """(Keras model of the original, torch model of the converted script, converted code)."""
    keras.utils.set_random_seed(0)
    ns: dict[str, Any] = {}
    exec(compile(src, "<keras>", "exec"), ns)
    res = convert_source(src)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    tns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), tns)
    port_weights(ns["model"], tns["model"])
    return ns["model"], tns["model"], res.source


def _same_loss(kmodel: Any, tmodel: Any, n_in: int, n_out: int) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, n_in)).astype("float32")
    y = rng.normal(size=(8, n_out)).astype("float32")
    expected = float(kmodel.compute_loss(x=x, y=y, y_pred=kmodel(x)).detach().cpu())
    main = float(keras.losses.mean_squared_error(y, kmodel(x)).detach().cpu().mean())
    assert expected - main > 1e-3  # the case really regularizes
    tmodel.eval()
    for _ in range(2):  # the terms of the last call only, as Keras
        got = float(tmodel.training_step([torch.as_tensor(x), torch.as_tensor(y)], 0).detach())
        assert abs(got - expected) <= 1e-5 * max(1.0, abs(expected)), (got, expected)


@pytest.mark.parametrize("reg", ['"l2"', "keras.regularizers.l1(0.02)",
                                 "keras.regularizers.L1L2(l1=0.01, l2=0.03)"])
def test_builtin_activity_regularizer_in_helper_called_twice(reg: str) -> None:
    src = textwrap.dedent(f"""\
        import keras
        from keras import layers


        def block(x, units):
            x = layers.Dense(units, activation="relu", activity_regularizer={reg})(x)
            return layers.Dense(units)(x)


        inputs = keras.Input(shape=(5,))
        h = block(inputs, 6)
        h = block(h, 6)
        outputs = layers.Dense(2, activity_regularizer="l1")(h)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="mse")
        """)
    kmodel, tmodel, code = _build(src)
    assert "register_forward_hook" in code
    _same_loss(kmodel, tmodel, 5, 2)


def test_activity_regularizer_in_sequential() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers

        model = keras.Sequential([keras.Input(shape=(4,)),
                                  layers.Dense(5, activation="tanh", activity_regularizer="l2"),
                                  layers.Dense(3)])
        model.compile(optimizer="adam", loss="mse")
        """)
    kmodel, tmodel, _ = _build(src)
    _same_loss(kmodel, tmodel, 4, 3)


ORTHO = """\
import keras
from keras import layers, ops


class Ortho(keras.regularizers.Regularizer):
    def __init__(self, size, weight=0.01):
        self.size = size
        self.weight = weight
        self.identity = ops.eye(size)

    def __call__(self, x):
        x = ops.reshape(x, (-1, self.size, self.size))
        gram = ops.matmul(x, ops.transpose(x, (0, 2, 1)))
        return ops.sum(self.weight * ops.square(gram - self.identity))

    def get_config(self):
        return {"size": self.size, "weight": self.weight}


def block(x, k):
    x = layers.Dense(8, activation="relu")(x)
    return layers.Dense(k * k, {arg}=Ortho(k))(x)


inputs = keras.Input(shape=(5,))
h = block(inputs, 2)
h = block(h, 2)
outputs = layers.Dense(2)(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
"""


@pytest.mark.parametrize("arg", ["activity_regularizer", "kernel_regularizer"])
def test_custom_regularizer_class_matches_keras(arg: str) -> None:
    """A user Regularizer becomes a plain class of torch ops, called on the output (activity)
    or on the kernel in Keras's (in, out) layout."""
    kmodel, tmodel, code = _build(ORTHO.replace("{arg}", arg))
    assert "class Ortho:" in code and "ops." not in code
    _same_loss(kmodel, tmodel, 5, 2)


def test_activity_regularizer_on_a_subclass_sublayer() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers


        class Block(keras.layers.Layer):
            def __init__(self, units):
                super().__init__()
                self.d = layers.Dense(units, activation="relu", activity_regularizer="l2")

            def call(self, x):
                return self.d(x)


        inputs = keras.Input(shape=(4,))
        outputs = layers.Dense(2)(Block(6)(inputs))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="mse")
        """)
    kmodel, tmodel, code = _build(src)
    assert "class Block(nn.Module)" in code
    _same_loss(kmodel, tmodel, 4, 2)


def test_unconverted_sublayer_argument_keeps_the_class_without_crashing() -> None:
    src = textwrap.dedent("""\
        import keras
        from keras import layers


        def penalty(x):
            return 0.1 * keras.ops.sum(x)


        class Block(keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.d = layers.Dense(3, activity_regularizer=penalty)

            def call(self, x):
                return self.d(x)
        """)
    res = convert_source(src)
    assert res.error == ""
    assert "class Block(keras.layers.Layer)" in res.source
    assert any("activity_regularizer" in u.reason for u in res.unmapped), res.unmapped
    assert not any("internal error" in u.reason for u in res.unmapped), res.unmapped
