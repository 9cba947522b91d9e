"""Keras metrics as data: the torchmetrics object, and how predictions/targets feed it.

``"accuracy"`` is resolved the way Keras 3 resolves it (``compile_utils.get_metric``): binary
when the output's last dimension is 1, sparse-categorical when the targets are class
indices (a sparse loss), categorical otherwise. Templates use ``{p}`` (model output),
``{y}`` (targets), ``{c}`` (number of classes: the output's last dimension), and each of
``params`` by its name (``{k}``, ``{thresholds}``): the argument as written, or Keras's default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


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
    # constructor arguments the templates read: (name, Keras's default), numbers only
    params: tuple[tuple[str, str], ...] = ()


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
    # Keras's in_top_k: the target's score is at least the k-th largest (ties count as in)
    MetricSpec("top_k_categorical_accuracy",
               ("top_k_categorical_accuracy", "TopKCategoricalAccuracy"), "",
               batch_mean="({p}.gather(-1, {y}.argmax(-1, keepdim=True)) >= "
                          "{p}.topk({k}, dim=-1).values[..., -1:]).float().mean()",
               params=(("k", "5"),)),
    MetricSpec("sparse_top_k_categorical_accuracy",
               ("sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy"), "",
               batch_mean="({p}.gather(-1, {y}.long().reshape({p}.shape[:-1]).unsqueeze(-1)) >= "
                          "{p}.topk({k}, dim=-1).values[..., -1:]).float().mean()",
               params=(("k", "5"),)),
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
    # y_pred > threshold against y_true != 0, float counts over the epoch (runtime/keras_metrics)
    *(MetricSpec(keras_name, (cls,), f'KerasConfusionMetric("{kind}", thresholds={{thresholds}})',
                 preds="{p}.reshape(-1)", target="{y}.reshape(-1)",
                 params=(("thresholds", "0.5"),))
      for keras_name, cls, kind in (
          ("true_positives", "TruePositives", "tp"), ("false_positives", "FalsePositives", "fp"),
          ("true_negatives", "TrueNegatives", "tn"), ("false_negatives", "FalseNegatives", "fn"),
          ("precision", "Precision", "precision"), ("recall", "Recall", "recall"))),
    MetricSpec("cosine_similarity", ("CosineSimilarity",), "",
               batch_mean="(F.normalize({y}.float().reshape({p}.shape), dim={axis}, eps=1e-07)"
                          " * F.normalize({p}, dim={axis}, eps=1e-07)).sum({axis}).mean()",
               params=(("axis", "-1"),)),
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


def with_params(spec: MetricSpec, given: dict[str, str]) -> MetricSpec:
    """``spec`` with its parameters written into the templates (``given`` over the defaults)."""
    if not spec.params:
        return spec
    values = {name: given.get(name, default) for name, default in spec.params}

    def fill(text: str) -> str:
        for name, value in values.items():
            text = text.replace(f"{{{name}}}", value)
        return text

    return replace(spec, ctor=fill(spec.ctor), preds=fill(spec.preds), target=fill(spec.target),
                   batch_mean=fill(spec.batch_mean) if spec.batch_mean else None, params=())


def logged_name(name: str, spec: MetricSpec, is_object: bool) -> str:
    """The key Keras logs: the string as given, or the metric object's default name."""
    return spec.keras_name if is_object else name
