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
    assert float(means.compute()["val_loss"]) == 3.0 and means.by_key["loss"].update_called


def test_update_after_compute_is_not_served_from_the_cache() -> None:
    """torchmetrics keeps its own bookkeeping of an update: a value computed before an
    update is not returned again after it."""
    mean = KerasEpochMean()
    mean.update(torch.tensor(1.0), 1)
    assert float(mean.compute()) == 1.0
    mean.update(torch.tensor(3.0), 1)
    assert float(mean.compute()) == 2.0


def test_stage_means_over_many_steps_equal_keras_means() -> None:
    """A step only keeps its values and the means fold them every ``FOLD_EVERY`` steps: over
    several folds, with batch sizes that change inside a fold, the epoch values still equal
    Keras's sample-weighted trackers."""
    from agent.rules.training.runtime.epoch_metrics import KerasEpochMeans

    means = KerasEpochMeans(["loss", "accuracy"])
    keras_loss, keras_acc = keras.metrics.Mean(), keras.metrics.Mean()
    rng = np.random.default_rng(0)
    steps = 2 * KerasEpochMeans.FOLD_EVERY + 7
    for step in range(steps):
        loss, acc = float(rng.random() * 3), float(rng.random())
        size = 32 if step % 50 else 5  # uneven batches inside and across the folds
        means.add({"loss": torch.tensor(loss, requires_grad=True) * 1,
                   "accuracy": torch.tensor(acc)}, size)
        keras_loss.update_state(np.float32(loss), sample_weight=size)
        keras_acc.update_state(np.float32(acc), sample_weight=size)
    logged = {k: float(v) for k, v in means.compute().items()}
    assert abs(logged["loss"] - float(keras_loss.result())) < 1e-5
    assert abs(logged["accuracy"] - float(keras_acc.result())) < 1e-5
    assert not any(m.total.requires_grad for m in means.by_key.values())


def test_reset_drops_the_kept_steps() -> None:
    """Lightning resets the means without computing them (after the sanity check): the steps
    kept since the last fold must not reach the next epoch."""
    from agent.rules.training.runtime.epoch_metrics import KerasEpochMeans

    means = KerasEpochMeans(["loss"])
    means.add({"loss": torch.tensor(100.0)}, 8)
    means.by_key["loss"].reset()  # Lightning resets each logged key
    means.add({"loss": torch.tensor(2.0)}, 4)
    assert float(means.compute()["loss"]) == 2.0


def test_other_keys_fall_back_to_one_update_per_key() -> None:
    """Values under keys in another order (a hand-edited step) still reach their own means."""
    from agent.rules.training.runtime.epoch_metrics import KerasEpochMeans

    means = KerasEpochMeans(["loss", "accuracy"])
    means.add({"accuracy": torch.tensor(0.5), "loss": torch.tensor(4.0)}, 2)
    means.add({"loss": torch.tensor(1.0), "accuracy": torch.tensor(1.0)}, 2)
    logged = {k: float(v) for k, v in means.compute().items()}
    assert logged == {"loss": 2.5, "accuracy": 0.75}


def test_a_step_runs_no_tensor_operation_but_detach() -> None:
    """What makes the step cheap (issue 12): between folds, ``add`` dispatches no tensor
    operation besides detaching its values; the fold's operations come once per
    ``FOLD_EVERY`` steps."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from agent.rules.training.runtime.epoch_metrics import KerasEpochMeans

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            self.names.append(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    means = KerasEpochMeans(["loss", "accuracy"])
    loss, accuracy = torch.tensor(1.0, requires_grad=True) * 2, torch.ones(())
    with Ops() as ops:
        for _ in range(KerasEpochMeans.FOLD_EVERY - 1):
            means.add({"loss": loss, "accuracy": accuracy}, 8)
    step_ops = [name for name in ops.names if "detach" not in name]
    assert step_ops == [] and ops.names  # the detaches were seen: the mode did record
    with Ops() as ops:
        means.add({"loss": loss, "accuracy": accuracy}, 8)  # this one folds
    assert any("stack" in name for name in ops.names)
    assert float(means.compute()["loss"]) == 2.0


def test_values_on_several_devices_fold_one_by_one() -> None:
    """A value on another device than the rest (a metric computed on the CPU while the model
    runs on an accelerator) cannot be stacked with them: the fold adds them one by one."""
    from agent.rules.training.runtime.epoch_metrics import KerasEpochMeans

    means = KerasEpochMeans(["loss", "accuracy"])
    means.add({"loss": torch.tensor(2.0), "accuracy": torch.tensor(0.5, device="meta")}, 4)
    means.add({"loss": torch.tensor(4.0), "accuracy": torch.tensor(1.0, device="meta")}, 4)
    means._fold(True)
    assert float(means.by_key["loss"].compute()) == 3.0  # the CPU key folded exactly


def test_kept_steps_are_folded_before_the_states_sync() -> None:
    """torchmetrics syncs the states across processes inside ``compute``: the steps the
    collection kept must already be in them then, and ``compute`` must not warn that no
    update came (the steps were only kept)."""
    import warnings

    from agent.rules.training.runtime.epoch_metrics import KerasEpochMeans

    means = KerasEpochMeans(["loss"])
    mean = means.by_key["loss"]
    seen: list[float] = []
    real_sync = mean.sync

    def sync(*args: object, **kwargs: object) -> None:
        seen.append(float(mean.total))
        real_sync(*args, **kwargs)  # type: ignore[arg-type]

    mean.sync = sync  # type: ignore[method-assign]
    means.add({"loss": torch.tensor(3.0)}, 2)
    means.add({"loss": torch.tensor(1.0)}, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(mean.compute()) == 1.5
    assert seen == [12.0]


def test_a_copied_or_unpickled_mean_still_folds_first() -> None:
    """torchmetrics wraps ``update``/``compute`` again when a metric is unpickled (a copy, a
    process spawned for DDP): the fold before ``compute`` must survive it."""
    import copy
    import pickle

    from agent.rules.training.runtime.epoch_metrics import KerasEpochMeans

    for clone in (copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))):
        means = clone(KerasEpochMeans(["loss", "accuracy"]))
        means.add({"loss": torch.tensor(2.0), "accuracy": torch.tensor(0.5)}, 4)
        means.add({"loss": torch.tensor(4.0), "accuracy": torch.tensor(1.0)}, 4)
        assert float(means.by_key["loss"].compute()) == 3.0
        assert float(means.by_key["accuracy"].compute()) == 0.75
