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
    weighs its size, as in Keras's progress logs).

    Only torchmetrics' public API: ``update``/``compute`` as torchmetrics wraps them, and the
    wrapped ``compute`` wrapped once more (at construction and after unpickling, where
    torchmetrics wraps its methods again) so that the collection's kept steps are folded in
    before torchmetrics syncs the states across processes."""

    full_state_update = False
    total: torch.Tensor
    count: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0), dist_reduce_fx="sum")
        self.pending: Callable[[bool], None] | None = None  # folds/drops the collection's steps
        self._fold_first()

    def update(self, value: torch.Tensor, size: int, summed: bool = False) -> None:
        """``value``: the mean of ``size`` samples, or (``summed``) their sum."""
        self.total.add_(value.detach(), alpha=1 if summed else size)
        self.count.add_(size)

    def compute(self) -> torch.Tensor:
        return self.total / self.count

    def reset(self) -> None:
        if self.pending is not None:
            self.pending(False)  # Lightning resets every key of a stage together
        super().reset()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._fold_first()

    def _fold_first(self) -> None:
        """``compute`` folds the collection's kept steps in first."""
        computed = self.compute

        def folded() -> Any:
            if self.pending is not None:
                self.pending(True)
            return computed()

        object.__setattr__(self, "compute", folded)  # mypy forbids assigning a method


class KerasEpochMeans(torchmetrics.MetricCollection):
    """The epoch logs of one stage, a ``KerasEpochMean`` per key, logged as ``prefix + key``
    (``val_loss``): ``self.log_dict(means)`` once per epoch, ``means.add(...)`` per step.

    A step only keeps its values (detached, on their device); every ``FOLD_EVERY`` steps, and
    when Lightning computes or resets the means, one stack and a weighted sum fold them into
    each key's mean: a few tensor operations per fold instead of four per step."""

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
        if keep and len({value.device for value in self.kept}) > 1:  # one by one
            keys = len(self.keys_in_order)
            for step, size in enumerate(self.sizes):
                for k, key in enumerate(self.keys_in_order):
                    self.by_key[key].update(self.kept[step * keys + k], size)
        elif keep:
            values = torch.stack(self.kept).float().reshape(len(self.sizes), -1)
            totals, start = torch.zeros_like(values[0]), 0
            for size, run in groupby(self.sizes):  # runs of equal batch sizes: no host copy
                stop = start + len(list(run))
                totals.add_(values[start:stop].sum(0), alpha=size)
                start = stop
            for key, total in zip(self.keys_in_order, totals, strict=True):
                self.by_key[key].update(total, sum(self.sizes), summed=True)
        self.kept.clear()
        self.sizes.clear()
