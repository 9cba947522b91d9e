"""Keras's thresholded confusion metrics, copied into converted scripts.

``torchmetrics.Precision(task="binary")`` applies a sigmoid to any prediction outside [0, 1]
and counts integers; Keras compares ``y_pred > threshold`` as given (strictly greater), reads
every nonzero target as positive and accumulates float counts over the epoch.
``KerasConfusionMetric`` does exactly that for ``TruePositives``, ``FalsePositives``,
``TrueNegatives``, ``FalseNegatives``, ``Precision`` and ``Recall`` (one threshold).
"""

import torch
import torchmetrics


class KerasConfusionMetric(torchmetrics.Metric):
    """A Keras confusion count (``"tp"``, ``"fp"``, ``"tn"``, ``"fn"``) or ratio
    (``"precision"``, ``"recall"``: 0 where undefined, as Keras's divide_no_nan) over all the
    values the epoch's batches hold, flattened."""

    full_state_update = False
    tp: torch.Tensor
    fp: torch.Tensor
    tn: torch.Tensor
    fn: torch.Tensor

    def __init__(self, result: str, thresholds: float = 0.5) -> None:
        super().__init__()
        self.result_kind = result
        self.threshold = float(thresholds)
        for state in ("tp", "fp", "tn", "fn"):
            self.add_state(state, torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        predicted = preds.detach().reshape(-1) > self.threshold
        actual = target.detach().reshape(-1) != 0
        self.tp += (predicted & actual).sum()
        self.fp += (predicted & ~actual).sum()
        self.tn += (~predicted & ~actual).sum()
        self.fn += (~predicted & actual).sum()

    def compute(self) -> torch.Tensor:
        if self.result_kind == "precision":
            return _ratio(self.tp, self.tp + self.fp)
        if self.result_kind == "recall":
            return _ratio(self.tp, self.tp + self.fn)
        count: torch.Tensor = getattr(self, self.result_kind)
        return count


def _ratio(part: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    return torch.where(whole > 0, part / whole.clamp(min=1e-30), torch.zeros_like(part))
