"""Keras's epoch logs (per-sample means of a step's loss and metrics), copied into converted
scripts.

``torchmetrics.MeanMetric`` casts, NaN-checks and broadcasts a weight tensor on every update,
and each state reassignment goes through ``nn.Module.__setattr__``: on a small model that
cost a quarter of a training step. ``KerasEpochMean`` adds the batch's value times its size
in place (no host sync) and divides once, when Lightning computes the logged value at the
epoch's end; its states sum across processes as MeanMetric's do.
"""

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
