"""KerasEpochMean (runtime/epoch_metrics.py): the epoch value Keras logs for the loss and each
metric, checked against Keras's own tracker.

Keras 3's ``fit`` feeds its loss tracker ``Mean.update_state(loss, sample_weight=batch size)``,
so an epoch's log is the mean over samples, not over batches. The converted step feeds
``KerasEpochMean.update(value, batch size)``; the epoch-level behaviour inside a Trainer
(uneven batches, the sanity check, callbacks reading the values) is tested on generated code
in test_generated_review.py.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np
import torch

from agent.rules.training.runtime.epoch_metrics import KerasEpochMean

BATCHES = [(0.75, 32), (1.5, 32), (4.0, 6)]  # (batch mean, batch size): an uneven last batch


def test_epoch_mean_is_keras_sample_weighted_mean() -> None:
    ours = KerasEpochMean()
    theirs = keras.metrics.Mean()
    for value, size in BATCHES:
        ours.update(torch.tensor(value, requires_grad=True) * 1, size)
        theirs.update_state(np.float32(value), sample_weight=size)
    assert abs(float(ours.compute()) - float(theirs.result())) < 1e-6
    per_batch = sum(v for v, _ in BATCHES) / len(BATCHES)
    assert abs(float(ours.compute()) - per_batch) > 0.1  # the batch of 6 weighs 6/70, not 1/3


def test_epoch_mean_resets_and_keeps_no_graph() -> None:
    """Lightning resets logged metrics after each epoch; a value with a graph (the loss) must
    not keep that graph alive in the state."""
    mean = KerasEpochMean()
    loss = torch.tensor(2.0, requires_grad=True) * 3
    mean.update(loss, 4)
    assert not mean.total.requires_grad and float(mean.compute()) == 6.0
    mean.reset()
    mean.update(torch.tensor(1.0), 2)
    assert float(mean.compute()) == 1.0 and float(mean.count) == 2.0


def test_stage_means_add_each_key_and_log_under_the_prefix() -> None:
    """``KerasEpochMeans.add``: one call per step feeds every key's mean; the names Lightning
    logs carry the stage's prefix, and a reset (Lightning's, per epoch) starts them over."""
    from agent.rules.training.runtime.epoch_metrics import KerasEpochMeans

    means = KerasEpochMeans(["loss", "accuracy"], prefix="val_")
    for value, size in BATCHES:
        means.add({"loss": torch.tensor(value, requires_grad=True) * 1,
                   "accuracy": torch.tensor(value / 8)}, size)
    logged = {k: float(v) for k, v in means.compute().items()}
    expected = sum(v * n for v, n in BATCHES) / sum(n for _, n in BATCHES)
    assert set(logged) == {"val_loss", "val_accuracy"}
    assert abs(logged["val_loss"] - expected) < 1e-6
    assert abs(logged["val_accuracy"] - expected / 8) < 1e-6
    assert not any(m.total.requires_grad for m in means.by_key.values())
    means.reset()
    assert not means.by_key["loss"].update_called
    means.add({"loss": torch.tensor(3.0), "accuracy": torch.tensor(1.0)}, 5)
    assert means.by_key["loss"].update_called and float(means.compute()["val_loss"]) == 3.0


def test_update_after_compute_is_not_served_from_the_cache() -> None:
    """The lean update wrapper keeps torchmetrics' bookkeeping: a value computed before an
    update is not returned again after it."""
    mean = KerasEpochMean()
    mean.update(torch.tensor(1.0), 1)
    assert float(mean.compute()) == 1.0
    mean.update(torch.tensor(3.0), 1)
    assert float(mean.compute()) == 2.0
