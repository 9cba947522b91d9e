"""``self.loss(y_true, y_pred)`` in a custom train_step: compile()'s loss object with its own
reduction (``"none"`` for a masked sequence loss), as Keras calls it — the converted class
has no ``loss`` attribute otherwise, and the step would fail on its first batch."""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

SOURCE = textwrap.dedent("""
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers


    class Tagger(keras.Model):
        def __init__(self):
            super().__init__()
            self.embed = layers.Embedding(20, 8)
            self.out = layers.Dense(5, activation="softmax")
            self.loss_tracker = keras.metrics.Mean(name="loss")

        def call(self, x):
            return self.out(self.embed(x))

        def masked_loss(self, y_true, y_pred):
            loss = self.loss(y_true, y_pred)
            mask = tf.cast(tf.math.not_equal(y_true, 0), loss.dtype)
            return tf.reduce_sum(loss * mask) / tf.reduce_sum(mask)

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.masked_loss(y, y_pred)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

        @property
        def metrics(self):
            return [self.loss_tracker]


    cross_entropy = keras.losses.SparseCategoricalCrossentropy(reduction=REDUCTION)
    model = Tagger()
    model.compile(optimizer="adam", loss=cross_entropy)
    x = np.random.randint(1, 20, size=(16, 6))
    y = np.random.randint(0, 5, size=(16, 6))
    model.fit(x, y, batch_size=8, epochs=1)
""")

REDUCTIONS = ("none", "sum", "sum_over_batch_size")


def _source(reduction: str) -> str:
    return SOURCE.replace("REDUCTION", repr(reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_the_loss_object_keeps_its_reduction(reduction: str) -> None:
    result = convert_source(_source(reduction))
    assert result.keras_deps == [] and "TODO(k2l)" not in result.source, result.source
    assert result.source.count("def loss(") == 1
    assert result.source.count("def metrics(") == 1  # the script's own, not a second one
    assert f'(reduction="{reduction}")' in result.source


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_the_loss_object_matches_keras(reduction: str, tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    script = tmp_path / "converted.py"
    script.write_text(convert_source(_source(reduction)).source, encoding="utf-8")
    module = runpy.run_path(str(script), run_name="converted")  # definitions only
    model = module["Tagger"]()
    original = keras.losses.SparseCategoricalCrossentropy(reduction=reduction)
    rng = np.random.default_rng(3)
    y_pred = rng.random((4, 6, 5)).astype("float32")
    y_pred /= y_pred.sum(-1, keepdims=True)
    y_true = rng.integers(0, 5, size=(4, 6))
    weight = rng.random((4, 6)).astype("float32")
    for sw in (None, weight):
        expected = keras.ops.convert_to_numpy(original(y_true, y_pred, sample_weight=sw))
        got = model.loss(torch.as_tensor(y_true), torch.as_tensor(y_pred),
                         None if sw is None else torch.as_tensor(sw))
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_masked_custom_step_runs_without_tensorflow(tmp_path: Path) -> None:
    run = run_without_tf(convert_source(_source("none")).source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
