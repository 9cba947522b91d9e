"""Custom layers whose ``Activation`` takes a constructor parameter, and module-level graph
statements whose names a class's methods bind themselves (``def call(self, x)``)."""

from __future__ import annotations

import ast
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.models.scopes import outer_reads

LAYER = """
import numpy as np
import keras
from keras import layers


class Projected(layers.Layer):
    def __init__(self, units, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(units)
        self.act = layers.Activation(activation)

    def call(self, x):
        return self.act(self.dense(x))
"""

SCRIPT = LAYER + """

inputs = keras.Input((6,))
x = Projected(4, activation="tanh")(inputs)
outputs = layers.Dense(1)(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
model.fit(np.zeros((8, 6)), np.zeros((8, 1)), epochs=1)
"""


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softmax", "gelu", None])
def test_activation_from_a_parameter_matches_keras(activation: str | None) -> None:
    result = convert_source(textwrap.dedent(LAYER), "layer.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "activation_by_name(activation)" in result.source
    keras.utils.set_random_seed(0)
    original = exec_source(LAYER, "k2l_original")["Projected"](3, activation=activation)
    x = np.random.default_rng(0).standard_normal((5, 6)).astype("float32")
    expected = keras.ops.convert_to_numpy(original(x))
    converted = exec_source(result.source, "k2l_converted")["Projected"](3, activation=activation)
    with torch.no_grad():
        converted(torch.as_tensor(x))  # sizes the lazy Linear
        converted.dense.weight.copy_(torch.as_tensor(
            keras.ops.convert_to_numpy(original.dense.kernel).T))
        converted.dense.bias.copy_(torch.as_tensor(
            keras.ops.convert_to_numpy(original.dense.bias)))
        got = converted(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_graph_statements_go_when_only_a_method_parameter_shares_their_name() -> None:
    result = convert_source(textwrap.dedent(SCRIPT), "script.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(result.source))
                if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(ast.parse(result.source))
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"keras", "tensorflow"}
    assert "inputs = " not in result.source and "\nx = " not in result.source


def test_class_reads_its_bases_and_what_its_methods_do_not_bind() -> None:
    tree = ast.parse(textwrap.dedent("""
        class C(Base, metaclass=Meta):
            size = WIDTH

            def call(self, x):
                return x + offset
        """))
    assert outer_reads(tree.body[0]) == {"Base", "Meta", "WIDTH", "offset"}
