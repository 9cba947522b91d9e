"""An elementwise merge (Add, Multiply, ...) after a custom layer whose output shape the rules
cannot read: any rank works when every input is in Keras's layout, and the output shape stays
unknown (the next layer that needs a size is lazy). Also a custom layer that makes its weights
in ``build`` only, without ``__init__``: the converted class gains one declaring them."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.weights import port_weights

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

SOURCE = """\
import keras
from keras import layers, ops


class LeadToken(layers.Layer):
    def build(self, input_shape):
        steps, width = input_shape[1], input_shape[2]
        self.lead = self.add_weight(shape=(1, 1, width), initializer="random_normal",
                                    name="lead")
        self.where = self.add_weight(shape=(1, steps + 1, width), initializer="random_normal",
                                     name="where")

    def call(self, x):
        lead = ops.broadcast_to(self.lead, (ops.shape(x)[0], 1, ops.shape(x)[2]))
        return ops.concatenate([lead, x], axis=1) + self.where


def build():
    inputs = keras.Input(shape=(5, 6))
    x = LeadToken()(inputs)
    h = layers.Dense(6, activation="tanh")(x)
    x = layers.Add()([x, h])
    x = layers.Multiply()([x, layers.Dense(6, activation="sigmoid")(x)])
    outputs = layers.Dense(3)(layers.GlobalAveragePooling1D()(x))
    return keras.Model(inputs, outputs)


model = build()
"""


def test_merges_after_an_unknown_shape_convert_and_match_keras() -> None:
    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    theirs: dict[str, Any] = {}
    exec(compile(SOURCE, "<keras>", "exec"), theirs)
    res = convert_source(SOURCE)
    assert "TODO(k2l)" not in res.source and res.keras_deps == [], res.source
    assert "def __init__(self, **kwargs: Any) -> None:" in res.source
    assert "self.lead = nn.UninitializedParameter()" in res.source
    ours: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ours)
    port_weights(theirs["model"], ours["model"])
    x = np.random.default_rng(1).normal(size=(4, 5, 6)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs["model"](x))
    ours["model"].eval()
    with torch.no_grad():
        got = ours["model"](torch.as_tensor(x)).numpy()
    assert got.shape == expected.shape == (4, 3)
    assert np.abs(got - expected).max() < 1e-5
