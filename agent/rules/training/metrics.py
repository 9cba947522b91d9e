"""Keras metrics as data: the torchmetrics object, and how predictions/targets feed it.

``"accuracy"`` is resolved the way Keras 3 resolves it (``compile_utils.get_metric``): binary
when the output's last dimension is 1, sparse-categorical when the targets are class
indices (a sparse loss), categorical otherwise. Templates use ``{p}`` (model output),
``{y}`` (targets), ``{c}`` (number of classes: the output's last dimension).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    keras_name: str  # the name Keras logs for the string form
    aliases: tuple[str, ...]  # compile strings and keras.metrics class names
    ctor: str  # torchmetrics constructor
    preds: str = "{p}"
    target: str = "{y}"
    needs_classes: bool = False
    rank1_only: bool = False  # per-class metrics: outputs (batch, classes) only
    # a per-batch mean over {p}/{y}: Lightning's epoch mean of it (weighted by batch size) is
    # Keras's value, with no metric object to update every step
    batch_mean: str | None = None


_FLAT_P = "{p}.reshape(-1, {p}.shape[-1])"

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("binary_accuracy", ("binary_accuracy", "BinaryAccuracy"),
               'torchmetrics.Accuracy(task="binary")',
               preds="({p} > 0.5).int()", target="{y}.reshape({p}.shape).int()",
               batch_mean="(({p} > 0.5).float() == {y}.reshape({p}.shape)).float().mean()"),
    MetricSpec("categorical_accuracy", ("categorical_accuracy", "CategoricalAccuracy"),
               'torchmetrics.Accuracy(task="multiclass", num_classes={c})',
               preds=_FLAT_P, target="{y}.argmax(-1).reshape(-1)", needs_classes=True,
               batch_mean="({p}.argmax(-1) == {y}.argmax(-1)).float().mean()"),
    MetricSpec("sparse_categorical_accuracy",
               ("sparse_categorical_accuracy", "SparseCategoricalAccuracy"),
               'torchmetrics.Accuracy(task="multiclass", num_classes={c})',
               preds=_FLAT_P, target="{y}.long().reshape(-1)", needs_classes=True,
               batch_mean="({p}.argmax(-1) == {y}.reshape({p}.shape[:-1])).float().mean()"),
    MetricSpec("top_k_categorical_accuracy",
               ("top_k_categorical_accuracy", "TopKCategoricalAccuracy"),
               'torchmetrics.Accuracy(task="multiclass", num_classes={c}, top_k=5)',
               preds=_FLAT_P, target="{y}.argmax(-1).reshape(-1)", needs_classes=True),
    MetricSpec("sparse_top_k_categorical_accuracy",
               ("sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy"),
               'torchmetrics.Accuracy(task="multiclass", num_classes={c}, top_k=5)',
               preds=_FLAT_P, target="{y}.long().reshape(-1)", needs_classes=True),
    MetricSpec("mean_absolute_error", ("mae", "mean_absolute_error", "MeanAbsoluteError"),
               "torchmetrics.MeanAbsoluteError()", target="{y}.reshape({p}.shape)",
               batch_mean="({p} - {y}.reshape({p}.shape)).abs().mean()"),
    MetricSpec("mean_squared_error", ("mse", "mean_squared_error", "MeanSquaredError"),
               "torchmetrics.MeanSquaredError()", target="{y}.reshape({p}.shape)",
               batch_mean="(({p} - {y}.reshape({p}.shape)) ** 2).mean()"),
    MetricSpec("root_mean_squared_error", ("RootMeanSquaredError",),
               "torchmetrics.MeanSquaredError(squared=False)",
               target="{y}.reshape({p}.shape)"),
    MetricSpec("auc", ("AUC",), 'torchmetrics.AUROC(task="binary")',
               preds="{p}.reshape(-1)", target="{y}.reshape(-1).long()"),
    MetricSpec("precision", ("Precision",), 'torchmetrics.Precision(task="binary")',
               preds="{p}.reshape(-1)", target="{y}.reshape(-1).long()"),
    MetricSpec("recall", ("Recall",), 'torchmetrics.Recall(task="binary")',
               preds="{p}.reshape(-1)", target="{y}.reshape(-1).long()"),
)

_BY_ALIAS: dict[str, MetricSpec] = {a: s for s in METRICS for a in s.aliases}
_ACCURACY = ("accuracy", "acc")  # keras.metrics.Accuracy is exact equality: not this


def lookup_metric(name: str, loss_kind: str, last_dim: int | str | None) -> MetricSpec | None:
    """A metric by compile string or class name; ``accuracy`` resolved like Keras 3."""
    short = name.rsplit(".", 1)[-1]
    if short in _ACCURACY:
        if last_dim == 1 or (last_dim is None and loss_kind == "binary"):
            return _BY_ALIAS["binary_accuracy"]
        if loss_kind == "sparse":
            return _BY_ALIAS["sparse_categorical_accuracy"]
        return _BY_ALIAS["categorical_accuracy"]
    return _BY_ALIAS.get(short)


def logged_name(name: str, spec: MetricSpec, is_object: bool) -> str:
    """The key Keras logs: the string as given, or the metric object's default name."""
    return spec.keras_name if is_object else name
