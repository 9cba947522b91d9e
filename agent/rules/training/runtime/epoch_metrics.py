"""Keras's epoch logs (per-sample means of a step's loss and metrics), copied into converted
scripts.

Each step adds its values in place (no host sync); Lightning computes the logged means when
the epoch ends, before any callback reads ``trainer.callback_metrics``, sums the states
across processes and resets them. On a small model torchmetrics' per-call machinery costs
more than the sums: ``MeanMetric`` casts, NaN-checks and broadcasts a weight per update,
``MetricCollection.__getitem__`` rebuilds its state references, and ``Metric``'s update wrapper
sets two attributes through ``nn.Module.__setattr__``. ``KerasEpochMean`` keeps the sum and
its count only; ``KerasEpochMeans.add`` reaches each key's mean directly.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torchmetrics


class KerasEpochMean(torchmetrics.Metric):
    """One value Keras logs per epoch: its mean over the epoch's samples (each batch's value
    weighs its size, as in Keras's progress logs)."""

    full_state_update = False
    total: torch.Tensor
    count: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, value: torch.Tensor, size: int) -> None:
        self.total.add_(value.detach(), alpha=size)
        self.count.add_(size)

    def compute(self) -> torch.Tensor:
        return self.total / self.count

    def _wrap_update(self, update: Callable[..., Any]) -> Callable[..., Any]:
        """torchmetrics' bookkeeping of an update, without ``nn.Module.__setattr__`` and the
        grad-mode switch (``update`` detaches its value): Lightning's own logged-value metric
        skips ``__setattr__`` the same way."""

        def wrapped(value: torch.Tensor, size: int) -> None:
            object.__setattr__(self, "_computed", None)
            object.__setattr__(self, "_update_count", self._update_count + 1)
            update(value, size)

        return wrapped


class KerasEpochMeans(torchmetrics.MetricCollection):
    """The epoch logs of one stage, a ``KerasEpochMean`` per key, logged as ``prefix + key``
    (``val_loss``): ``self.log_dict(means)`` once per epoch, ``means.add(...)`` per step."""

    def __init__(self, keys: Iterable[str], prefix: str = "") -> None:
        means = {key: KerasEpochMean() for key in keys}
        super().__init__(dict(means), prefix=prefix or None, compute_groups=False)
        self.by_key = means

    def add(self, values: Mapping[str, torch.Tensor], size: int) -> None:
        """One batch's values (scalar tensors by key), each weighing the batch's ``size``."""
        for key, value in values.items():
            self.by_key[key].update(value, size)
