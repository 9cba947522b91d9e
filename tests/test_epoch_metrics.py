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
