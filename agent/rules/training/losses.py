"""Keras losses as data: per-sample torch expressions computed the way Keras computes them.

Each template maps predictions ``{p}`` and targets ``{y}`` to a per-sample loss (Keras's
``axis=-1`` reduction already applied); the step then averages it, which is Keras's
``sum_over_batch_size``. Probabilities are never pushed through another softmax: a
``from_logits=False`` loss works on what the model outputs, clipped to [1e-7, 1 - 1e-7]
exactly as ``keras.src.backend.torch.nn`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_CLIP = "clamp(1e-7, 1 - 1e-7)"


@dataclass(frozen=True)
class LossExample:
    keras: str  # compile(loss=...) expression
    expect: tuple[str, ...]  # substrings of the generated compute_loss


@dataclass(frozen=True)
class LossSpec:
    name: str  # Keras's function name (also the metric-name stem)
    aliases: tuple[str, ...]  # string names and class names accepted in compile()
    template: str  # per-sample loss on outputs as given
    logits: str | None = None  # template when from_logits=True
    params: dict[str, Any] = field(default_factory=dict)  # Keras defaults
    target: str = "float"  # dtype the targets are cast to: "float" | "long"
    kind: str = "regression"  # "categorical" | "sparse" | "binary" | "regression"
    doc: str = ""
    examples: tuple[LossExample, ...] = ()


LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        "categorical_crossentropy",
        ("categorical_crossentropy", "CategoricalCrossentropy"),
        f"-({{y}} * torch.log(({{p}} / {{p}}.sum(-1, keepdim=True)).{_CLIP})).sum(-1)",
        logits="F.cross_entropy({p}.movedim(-1, 1), {y}.movedim(-1, 1), reduction=\"none\")",
        params={"from_logits": False, "label_smoothing": 0.0},
        kind="categorical",
        doc="one-hot targets; probabilities renormalised and clipped like Keras",
        examples=(LossExample('"categorical_crossentropy"', ("torch.log(", "clamp(1e-7")),
                  LossExample("keras.losses.CategoricalCrossentropy(from_logits=True)",
                              ("F.cross_entropy(",))),
    ),
    LossSpec(
        "sparse_categorical_crossentropy",
        ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
        f"F.nll_loss(torch.log(({{p}} / {{p}}.sum(-1, keepdim=True)).{_CLIP}).movedim(-1, 1), "
        "{y}.reshape({p}.shape[:-1]), reduction=\"none\")",
        logits="F.cross_entropy({p}.movedim(-1, 1), {y}.reshape({p}.shape[:-1]), "
               "reduction=\"none\")",
        params={"from_logits": False},
        target="long",
        kind="sparse",
        doc="integer targets",
        examples=(LossExample('"sparse_categorical_crossentropy"', ("F.nll_loss(",)),
                  LossExample("keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
                              ("F.cross_entropy(",))),
    ),
    LossSpec(
        "binary_crossentropy",
        ("binary_crossentropy", "BinaryCrossentropy"),
        f"F.binary_cross_entropy({{p}}.{_CLIP}, {{y}}.reshape({{p}}.shape), "
        "reduction=\"none\").mean(-1)",
        logits="F.binary_cross_entropy_with_logits({p}, {y}.reshape({p}.shape), "
               "reduction=\"none\").mean(-1)",
        params={"from_logits": False, "label_smoothing": 0.0},
        kind="binary",
        doc="probabilities clipped like Keras",
        examples=(LossExample('"binary_crossentropy"', ("F.binary_cross_entropy(",)),
                  LossExample("keras.losses.BinaryCrossentropy(from_logits=True)",
                              ("binary_cross_entropy_with_logits",))),
    ),
    LossSpec(
        "mean_squared_error", ("mse", "mean_squared_error", "MeanSquaredError"),
        "F.mse_loss({p}, {y}.reshape({p}.shape), reduction=\"none\").mean(-1)",
        examples=(LossExample('"mse"', ("F.mse_loss(",)),),
    ),
    LossSpec(
        "mean_absolute_error", ("mae", "mean_absolute_error", "MeanAbsoluteError"),
        "F.l1_loss({p}, {y}.reshape({p}.shape), reduction=\"none\").mean(-1)",
        examples=(LossExample('"mae"', ("F.l1_loss(",)),),
    ),
    LossSpec(
        "huber", ("huber", "huber_loss", "Huber"),
        "F.huber_loss({p}, {y}.reshape({p}.shape), reduction=\"none\", delta={delta}).mean(-1)",
        params={"delta": 1.0},
        doc="same piecewise form as torch's huber_loss",
        examples=(LossExample("keras.losses.Huber(delta=2.0)", ("delta=2.0",)),),
    ),
    LossSpec(
        "kl_divergence",
        ("kld", "kl_divergence", "kullback_leibler_divergence", "KLDivergence"),
        "({y}.clamp(1e-7, 1) * torch.log({y}.clamp(1e-7, 1) / {p}.clamp(1e-7, 1))).sum(-1)",
        examples=(LossExample('"kld"', ("torch.log(",)),),
    ),
    LossSpec(
        "cosine_similarity", ("cosine_similarity", "CosineSimilarity"),
        "-(F.normalize({y}, dim={axis}, eps=1e-6) * F.normalize({p}, dim={axis}, eps=1e-6))"
        ".sum({axis})",
        params={"axis": -1},
        doc="Keras's l2_normalize floors the squared norm at 1e-12, i.e. the norm at 1e-6",
        examples=(LossExample('"cosine_similarity"', ("F.normalize(",)),),
    ),
    LossSpec(
        "hinge", ("hinge", "Hinge"),
        "(1 - (2 * {y} - 1 if bool((({y} == 0) | ({y} == 1)).all()) else {y}) * {p})"
        ".clamp(min=0).mean(-1)",
        kind="binary",
        doc="0/1 labels become -1/1 as Keras does",
        examples=(LossExample('"hinge"', (".clamp(min=0)",)),),
    ),
    LossSpec(
        "squared_hinge", ("squared_hinge", "SquaredHinge"),
        "((1 - (2 * {y} - 1 if bool((({y} == 0) | ({y} == 1)).all()) else {y}) * {p})"
        ".clamp(min=0) ** 2).mean(-1)",
        kind="binary",
        examples=(LossExample('"squared_hinge"', ("** 2",)),),
    ),
    LossSpec(
        "categorical_hinge", ("categorical_hinge", "CategoricalHinge"),
        "(1 - ({y} * {p}).sum(-1) + ((1 - {y}) * {p}).amax(-1)).clamp(min=0)",
        kind="categorical",
        examples=(LossExample('"categorical_hinge"', (".amax(-1)",)),),
    ),
    LossSpec(
        "mean_squared_logarithmic_error",
        ("msle", "mean_squared_logarithmic_error", "MeanSquaredLogarithmicError"),
        "((torch.log({p}.clamp(min=1e-7) + 1) - torch.log({y}.reshape({p}.shape)"
        ".clamp(min=1e-7) + 1)) ** 2).mean(-1)",
        examples=(LossExample('"msle"', ("torch.log(",)),),
    ),
    LossSpec(
        "poisson", ("poisson", "Poisson"),
        "({p} - {y}.reshape({p}.shape) * torch.log({p} + 1e-7)).mean(-1)",
        examples=(LossExample('"poisson"', ("torch.log(",)),),
    ),
    LossSpec(
        "log_cosh", ("log_cosh", "logcosh", "LogCosh"),
        "(({p} - {y}.reshape({p}.shape)) + F.softplus(-2 * ({p} - {y}.reshape({p}.shape)))"
        " - 0.6931471805599453).mean(-1)",
        doc="log(cosh(x)) = x + softplus(-2x) - log 2, stable like Keras",
        examples=(LossExample('"log_cosh"', ("F.softplus(",)),),
    ),
)

_BY_ALIAS: dict[str, LossSpec] = {a: s for s in LOSSES for a in s.aliases}


def lookup_loss(name: str) -> LossSpec | None:
    """A loss by its compile() string, function name or class name (last dotted part)."""
    return _BY_ALIAS.get(name.rsplit(".", 1)[-1])


def is_class_name(name: str) -> bool:
    """``CategoricalCrossentropy`` (a class to instantiate) vs ``categorical_crossentropy``."""
    return name[:1].isupper()


def smoothed_target(spec: LossSpec, smoothing: float, num_classes: str) -> str:
    """Keras label smoothing, applied to ``{y}`` before the loss."""
    if spec.name == "binary_crossentropy":
        return f"({{y}} * (1 - {smoothing}) + 0.5 * {smoothing})"
    return f"({{y}} * (1 - {smoothing}) + {smoothing} / {num_classes})"
