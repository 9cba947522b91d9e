"""keras.losses.Loss subclasses → plain classes with Keras's __call__
(agent/rules/training/loss_classes.py), checked against the same class run by Keras 3."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

LOSS = """\
import keras
from keras import ops


class Pinball(keras.losses.Loss):
    def __init__(self, tau=0.8, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.tau = tau

    def call(self, y_true, y_pred):
        gap = y_true - y_pred
        return ops.mean(ops.maximum(self.tau * gap, (self.tau - 1.0) * gap), axis=-1)


def build():
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss=Pinball(0.3))
    return model


model = build()
"""


def test_loss_subclass_matches_keras_with_and_without_sample_weight() -> None:
    theirs: dict[str, Any] = {}
    exec(compile(LOSS, "<keras>", "exec"), theirs)
    res = convert_source(LOSS)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    assert "class Pinball:" in res.source
    assert not any("check it uses no Keras" in w.message for w in res.warnings), res.warnings
    ours: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ours)
    rng = np.random.default_rng(7)
    y = rng.normal(size=(6, 2)).astype("float32")
    p = rng.normal(size=(6, 2)).astype("float32")
    w = rng.random(6).astype("float32")
    k, t = theirs["Pinball"](0.3), ours["Pinball"](0.3)
    assert k.name == t.name == "pinball"
    for weight in (None, w):
        expected = float(keras.ops.convert_to_numpy(k(y, p, sample_weight=weight)))
        got = float(t(torch.as_tensor(y), torch.as_tensor(p),
                      None if weight is None else torch.as_tensor(weight)))
        assert abs(got - expected) < 1e-6, (weight is None, got, expected)
    step = ours["model"].training_step([torch.as_tensor(np.ones((4, 3), "float32")),
                                        torch.zeros(4, 2)], 0)
    assert torch.isfinite(step)


def test_loss_subclass_with_another_reduction_stays_and_is_reported() -> None:
    src = LOSS.replace("super().__init__(name=name, **kwargs)",
                       'super().__init__(name=name, reduction="sum", **kwargs)')
    res = convert_source(src)
    assert "class Pinball(keras.losses.Loss):" in res.source
    assert any("Pinball not converted" in u.reason for u in res.unmapped), res.unmapped
