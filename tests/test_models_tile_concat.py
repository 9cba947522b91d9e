"""A concatenation after ``tf.tile`` (issue 9): the tiled tensor keeps its rank, so a
``Concatenate`` of it with convolution outputs converts (PointNet's segmentation head: a
global feature max-pooled over the points, tiled back to every point). Its last
convolution's softmax runs over the channels, axis 1 of torch's channels-first tensor."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import pytest

from agent.rules.models.op_shapes import shape_rule
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow


def test_concatenate_after_a_tile_by_a_builder_parameter() -> None:
    code = check(KERAS + """
from keras import ops

N = 6


def build(num_points=N, classes=3):
    inputs = keras.Input(shape=(N, 3))
    f1 = layers.Conv1D(4, kernel_size=1)(inputs)
    f2 = layers.Conv1D(5, kernel_size=1, activation="relu")(f1)
    g = layers.MaxPool1D(pool_size=num_points)(f2)
    g = ops.tile(g, [1, num_points, 1])
    x = layers.Concatenate()([f1, f2, g])
    out = layers.Conv1D(classes, kernel_size=1, activation="softmax")(x)
    return keras.Model(inputs, out)


model = build()
""", "model")
    assert "nn.Conv1d(4 + 5 + 5, classes" in code or "nn.Conv1d(14, classes" in code, code
    assert "F.softmax(self.conv1d_2(x), dim=1)" in code, code


def test_tile_rule_keeps_the_rank_with_an_unknown_multiple() -> None:
    import libcst as cst

    call = cst.parse_expression("tf.tile(g, [1, n, 2])")
    rule = shape_rule("tensorflow.tile", call, {})
    assert rule is not None
    assert rule([(1, 5)]) == (None, 10)
    assert rule([(1, 5, 2)]) is None  # a multiple per axis, batch included, or nothing
    assert shape_rule("tensorflow.tile", cst.parse_expression("tf.tile(g, m)"), {}) is None
