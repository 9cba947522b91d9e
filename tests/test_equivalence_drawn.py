"""The equivalence check with an output Keras draws at random (a sampling layer with a seed
generator, as VAE encoders have): that output is compared by shape only, the deterministic
outputs by value; a wrong deterministic output still fails."""

from __future__ import annotations

import os

import pytest

from agent.equivalence import check_sources
from agent.rules.convert import convert_source

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

SOURCE = """\
import keras
from keras import layers, ops


class Draw(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seeds = keras.random.SeedGenerator(7)

    def call(self, inputs):
        mean, log_var = inputs
        noise = keras.random.normal(shape=ops.shape(mean), seed=self.seeds)
        return mean + ops.exp(0.5 * log_var) * noise


def build():
    inputs = keras.Input(shape=(6,))
    h = layers.Dense(8, activation="relu")(inputs)
    mean = layers.Dense(2)(h)
    log_var = layers.Dense(2)(h)
    return keras.Model(inputs, [mean, log_var, Draw()([mean, log_var])])


model = build()
"""


def test_random_output_is_compared_by_shape_and_the_rest_by_value() -> None:
    res = convert_source(SOURCE)
    assert "TODO(k2l)" not in res.source and res.keras_deps == [], res.source
    verdict = check_sources(SOURCE, res.source)
    assert verdict.passed, verdict.message
    assert "output(s) 2 drawn at random by Keras: shape compared only" in verdict.message
    assert verdict.max_abs_diff < 1e-4
    broken = res.source.replace("F.relu(", "torch.tanh(")
    assert broken != res.source
    assert not check_sources(SOURCE, broken).passed  # the deterministic outputs still count


def test_run_to_run_noise_below_the_tolerance_is_not_called_random() -> None:
    import numpy as np

    from agent.equivalence import _differs

    base = np.linspace(-3.0, 3.0, 12).reshape(3, 4)
    assert not _differs(base, base + 1e-7, 1e-4)  # float noise: still compared by value
    assert _differs(base, base + 0.5, 1e-4)  # a drawn output
    assert not _differs(np.zeros((0, 4)), np.zeros((0, 4)), 1e-4)
