"""``Sequential([...] + block(8) + [...])`` with a helper returning a list of layers
(agent/rules/models/list_helpers.py): converted as if the layers were listed inline."""

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
from keras import layers


def block(width, act="tanh"):
    \"\"\"Dense, normalised, activated.\"\"\"
    return [layers.Dense(width), layers.BatchNormalization(), layers.Activation(act)]


def build(classes=3):
    return keras.Sequential([keras.Input(shape=(5,))] + block(8) + block(6, act="relu")
                            + [layers.Dense(classes)])


model = build()
"""


def test_sequential_of_list_helpers_matches_keras() -> None:
    keras.backend.clear_session()
    keras.utils.set_random_seed(2)
    theirs: dict[str, Any] = {}
    exec(compile(SOURCE, "<keras>", "exec"), theirs)
    res = convert_source(SOURCE)
    assert "TODO(k2l)" not in res.source and res.keras_deps == [], res.source
    assert "def block(" not in res.source  # inlined, and nothing else calls it
    assert "nn.Linear(5, 8)" in res.source and "nn.Linear(8, 6)" in res.source
    ours: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ours)
    port_weights(theirs["model"], ours["model"])
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs["model"](x, training=False))
    ours["model"].eval()
    with torch.no_grad():
        got = ours["model"](torch.as_tensor(x)).numpy()
    assert np.abs(got - expected).max() < 1e-5


def test_helper_with_more_than_a_return_is_not_expanded() -> None:
    src = SOURCE.replace('    """Dense, normalised, activated."""\n',
                         "    width = width * 2\n")
    assert "width = width * 2" in src
    res = convert_source(src)
    assert any("Sequential(layers) from a variable" in u.reason for u in res.unmapped)
