"""Keras loss objects built with a ``reduction`` and called by the script's own training code
(a custom ``train_step``, a tape loop): ``KerasLoss`` reduces as Keras does, numbers from
Keras 3 on the torch backend; a custom step over ``(x, y, sample_weight)`` batches with a
per-sample loss and a ``Mean`` tracker runs end to end without TensorFlow."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

os.environ.setdefault("KERAS_BACKEND", "torch")

LOSSES = {
    "sparse": ("SparseCategoricalCrossentropy(from_logits=True{r})", "classes"),
    "mse": ("MeanSquaredError({r})", "values"),
}


def _loss_object(expr: str) -> Any:
    """The converted ``loss_fn = keras.losses.<expr>`` as an object of the converted file."""
    src = f"import keras\n\nloss_fn = keras.losses.{expr}\n"
    res = convert_source(src)
    assert "keras" not in res.source.split("loss_fn =")[1], res.source
    ns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ns)
    return ns["loss_fn"]


@pytest.mark.parametrize("reduction", ["none", "sum", "sum_over_batch_size",
                                       "mean_with_sample_weight"])
@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_loss_reduction_matches_keras(kind: str, reduction: str) -> None:
    keras = pytest.importorskip("keras")
    template, targets = LOSSES[kind]
    arg = f'reduction="{reduction}"'
    expr = template.format(r=f", {arg}" if "(from" in template else arg)
    converted = _loss_object(expr)
    original = eval(f"keras.losses.{expr}", {"keras": keras})
    rng = np.random.default_rng(1)
    pred = rng.normal(size=(6, 4)).astype("float32")
    true = (rng.integers(0, 4, size=6) if targets == "classes"
            else rng.normal(size=(6, 4))).astype("float32")
    weight = rng.random(6).astype("float32")
    for sw in (None, weight):
        expected = np.asarray(keras.ops.convert_to_numpy(original(true, pred, sample_weight=sw)))
        got = converted(torch.as_tensor(true), torch.as_tensor(pred),
                        sample_weight=None if sw is None else torch.as_tensor(sw))
        assert got.shape == expected.shape, (got.shape, expected.shape)
        np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_keras2_reduction_enum_is_read() -> None:
    src = ("import tensorflow as tf\n\nloss_fn = tf.keras.losses.MeanSquaredError("
           "reduction=tf.keras.losses.Reduction.NONE)\n")
    res = convert_source(src)
    code = " ".join(res.source.split())
    assert 'KerasLoss( reduction="none", per_sample=' in code and "tf.keras" not in code, code


def test_weighted_custom_step_with_a_mean_tracker_runs_without_tensorflow(
        tmp_path: Path) -> None:
    src = textwrap.dedent("""\
        import numpy as np
        import tensorflow as tf
        from tensorflow import keras
        from tensorflow.keras import layers


        class WeightedModel(keras.Model):
            def train_step(self, inputs):
                if len(inputs) == 3:
                    features, labels, sample_weight = inputs
                else:
                    features, labels = inputs
                    sample_weight = None
                with tf.GradientTape() as tape:
                    predictions = self(features, training=True)
                    loss = loss_fn(labels, predictions, sample_weight=sample_weight)
                trainable_vars = self.trainable_variables
                gradients = tape.gradient(loss, trainable_vars)
                self.optimizer.apply_gradients(zip(gradients, trainable_vars))
                loss_tracker.update_state(loss, sample_weight=sample_weight)
                return {"loss": loss_tracker.result()}

            @property
            def metrics(self):
                return [loss_tracker]


        def build():
            inputs = layers.Input((6,))
            x = layers.Dense(16, activation="relu")(inputs)
            outputs = layers.Dense(5, activation="softmax")(x)
            model = WeightedModel(inputs, outputs)
            model.compile(optimizer=keras.optimizers.Adam(1e-3))
            return model


        if __name__ == "__main__":
            loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
            loss_tracker = keras.metrics.Mean(name="loss")
            rng = np.random.default_rng(0)
            x = rng.normal(size=(32, 6)).astype("float32")
            y = rng.integers(0, 5, size=(32,))
            w = rng.random(32).astype("float32")
            model = build()
            model.fit(x, y, sample_weight=w, batch_size=8, epochs=1)
            print("DONE")
        """)
    res = convert_source(src)
    assert res.keras_deps == [] and "TODO(k2l)" not in res.source, res.source
    assert 'reduction="none"' in res.source
    run = run_without_tf(res.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DONE" in run.stdout
