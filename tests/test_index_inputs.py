"""A float Keras Input that a custom layer looks up in its Embedding: indices in torch
(agent/rules/models/index_inputs.py). Keras's Embedding casts its input to int; torch's
nn.Embedding takes only integer tensors, so the example input and fit's data must be long."""

from __future__ import annotations

import os
from typing import Any

import libcst as cst
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.imports import collect_imports
from agent.rules.models.index_inputs import embedding_layers

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

SOURCE = """\
import numpy as np
import keras
from keras import layers, ops

STEPS = 6


class TokensAndSteps(layers.Layer):
    def __init__(self, steps, vocab, width, **kwargs):
        super().__init__(**kwargs)
        self.words = layers.Embedding(input_dim=vocab, output_dim=width)
        self.steps = layers.Embedding(input_dim=steps, output_dim=width)

    def call(self, ids):
        where = ops.arange(0, ops.shape(ids)[-1], 1)
        return self.words(ids) + self.steps(where)


class Scaled(layers.Layer):
    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.proj = layers.Dense(width)

    def call(self, x):
        return self.proj(x) * 2.0


def build_tokens():
    inputs = layers.Input(shape=(STEPS,))
    x = TokensAndSteps(STEPS, 50, 4)(inputs)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def build_scaled():
    inputs = layers.Input(shape=(STEPS,))
    outputs = layers.Dense(1, activation="sigmoid")(Scaled(4)(inputs))
    return keras.Model(inputs, outputs)


x = np.random.default_rng(0).integers(0, 50, size=(16, STEPS))
y = (x[:, 0] < 25).astype("float32")
model = build_tokens()
model.fit(x, y, epochs=1, batch_size=8)
"""


def test_float_input_to_a_custom_layers_embedding_is_long() -> None:
    res = convert_source(SOURCE)
    assert "TODO(k2l)" not in res.source and res.keras_deps == [], res.source
    code = res.source
    assert "self.example_input_array = torch.zeros(1, STEPS, dtype=torch.long)" in code
    assert "torch.as_tensor(np.asarray(x), dtype=torch.long)" in code, code
    start = code.index("model = build_tokens()")
    scope: dict[str, Any] = {"__name__": "converted"}
    exec(compile(code[:start], "<converted>", "exec"), scope)
    tokens = scope["build_tokens"]()
    out = tokens(tokens.example_input_array)  # nn.Embedding raises on a float tensor
    assert out.shape == (1, 1)
    scaled = scope["build_scaled"]()  # a custom layer without Embedding: float as before
    assert scaled.example_input_array.dtype == torch.float32
    assert scaled(scaled.example_input_array).shape == (1, 1)


def test_custom_layer_that_casts_its_input_first_keeps_it_float() -> None:
    """``ids = ops.cast(ids, "int32")`` before the lookup: the input is not read as indices
    by the Embedding itself, so the rule leaves its dtype alone (Keras's cast stays)."""
    casting = SOURCE.replace("    def call(self, ids):\n",
                             "    def call(self, ids):\n        ids = ops.cast(ids, 'int32')\n")
    assert casting != SOURCE
    found = [embedding_layers(m, collect_imports(m))
             for m in (cst.parse_module(SOURCE), cst.parse_module(casting))]
    assert found == [frozenset({"TokensAndSteps"}), frozenset()]
