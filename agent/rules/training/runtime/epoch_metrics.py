"""Keras's epoch logs (per-sample means of a step's loss and metrics), copied into converted
scripts.

Lightning computes the logged means when the epoch ends, before any callback reads
``trainer.callback_metrics``, sums the states across processes and resets them. On a small
model the per-step bookkeeping is what costs (each tensor operation, each torchmetrics
wrapper), so a step only keeps its detached values in a list (no host sync, no tensor
operation); a fold every few dozen steps, and the epoch's end, sum them on their device into
each key's ``KerasEpochMean`` (a sum and a count, synced across processes by torchmetrics)."""

from collections.abc import Callable, Iterable, Mapping
from itertools import groupby
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
        self.pending: Callable[[bool], None] | None = None  # the collection's unfolded sums

    def update(self, value: torch.Tensor, size: int) -> None:
        self.total.add_(value.detach(), alpha=size)
        self.count.add_(size)

    def compute(self) -> torch.Tensor:
        return self.total / self.count

    def fold(self, total: torch.Tensor, count: int) -> None:
        """Adds sums that the collection gathered (``total``: of ``count`` samples)."""
        self.total.add_(total)
        self.count.add_(count)
        object.__setattr__(self, "_computed", None)
        object.__setattr__(self, "_update_count", self._update_count + 1)

    def reset(self) -> None:
        if self.pending is not None:
            self.pending(False)  # Lightning resets every key of a stage together
        super().reset()

    def _wrap_compute(self, compute: Callable[..., Any]) -> Callable[..., Any]:
        """Folds the collection's sums in first (before torchmetrics syncs the states)."""
        wrapped = super()._wrap_compute(compute)

        def folded() -> Any:
            if self.pending is not None:
                self.pending(True)
            return wrapped()

        return folded

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
    (``val_loss``): ``self.log_dict(means)`` once per epoch, ``means.add(...)`` per step.

    A step only keeps its values (detached, on their device); every ``FOLD_EVERY`` steps, and
    when Lightning computes or resets the means, one stack and one weighted sum fold them into
    each key's mean: two tensor operations per fold instead of four per step."""

    FOLD_EVERY = 64

    def __init__(self, keys: Iterable[str], prefix: str = "") -> None:
        means = {key: KerasEpochMean() for key in keys}
        super().__init__(dict(means), prefix=prefix or None, compute_groups=False)
        self.by_key = means
        self.keys_in_order = list(means)
        self.kept: list[torch.Tensor] = []  # the steps' values, key by key, step by step
        self.sizes: list[int] = []
        for mean in means.values():
            mean.pending = self._fold

    def add(self, values: Mapping[str, torch.Tensor], size: int) -> None:
        """One batch's values (scalar tensors by key), each weighing the batch's ``size``."""
        if list(values) != self.keys_in_order:  # another set or order of keys: one by one
            for key, value in values.items():
                self.by_key[key].update(value, size)
            return
        self.kept.extend([value.detach() for value in values.values()])
        self.sizes.append(size)
        if len(self.sizes) >= self.FOLD_EVERY:
            self._fold(True)

    def _fold(self, keep: bool) -> None:
        """Adds the kept values to each key's mean (``keep``), or drops them."""
        if not self.sizes:
            return
        if keep:
            values = torch.stack(self.kept).float().reshape(len(self.sizes), -1)
            totals, start = torch.zeros_like(values[0]), 0
            for size, run in groupby(self.sizes):  # runs of equal batch sizes: no host copy
                stop = start + len(list(run))
                totals.add_(values[start:stop].sum(0), alpha=size)
                start = stop
            for key, total in zip(self.keys_in_order, totals, strict=True):
                self.by_key[key].fold(total, sum(self.sizes))
        self.kept.clear()
        self.sizes.clear()
