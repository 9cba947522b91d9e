"""Elementwise merges after a custom layer, and custom layers returning several tensors.

``Add()([x, Custom()(x)])``: the custom layer's output shape is unknown statically, but an
elementwise merge's inputs all have its output's shape, so the known input tells the rank
(before, the model was refused: "the input's rank is unknown"). ``a, b = Custom()(x)``: the
converted forward unpacks the module's tuple as Keras does. Built with Keras for two widths
and compared with the converted class (weights ported, outputs compared).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import pytest

from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow

SRC = KERAS + """
class Split(layers.Layer):
    def __init__(self, offset):
        super().__init__()
        self.offset = offset

    def call(self, x):
        return x + self.offset, x * 2.0


class Scale(layers.Layer):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def call(self, x):
        return x * self.factor


def build(width, factor):
    inputs = keras.Input((5, width))
    a, b = Split(width)(inputs)
    a = Scale(factor)(a) if factor else a
    out = layers.Add()([inputs, a])
    out = layers.Multiply()([Scale(0.5)(b), out])
    return keras.Model(inputs, [layers.Dense(3)(out), b])


models = [build(4, 0.1), build(6, 0.0)]
"""


@pytest.mark.parametrize("which", [0, 1])
def test_merge_beside_a_custom_layer_and_two_outputs_unpacked(which: int) -> None:
    code = check(SRC, f"models[{which}]")
    assert "a, b = self.split(inputs)" in code, code
