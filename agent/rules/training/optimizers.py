"""Keras optimizers and learning-rate schedules as data, with Keras's defaults written out.

Keras and torch disagree on most defaults (Adam eps 1e-7 vs 1e-8, RMSprop rho 0.9 vs alpha
0.99, SGD lr 0.01 vs 1e-3, AdamW weight_decay 0.004 vs 0.01, Adagrad's initial accumulator
0.1 vs 0); every generated optimizer spells each hyperparameter explicitly so the converted
run trains like the original. Where torch's update itself differs, the target is a runtime
class (``KerasRMSprop``: Keras divides by ``sqrt(v + eps)``, which no torch eps reproduces).
Known residual differences are listed in ``notes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OptimizerSpec:
    keras: str  # class name under keras.optimizers
    strings: tuple[str, ...]  # compile(optimizer="...") spellings
    torch: str  # torch.optim class
    positional: tuple[str, ...]  # Keras positional parameter order
    defaults: dict[str, Any]  # Keras defaults, Keras names
    # Keras name -> torch keyword; "(a, b)" targets build tuples from several Keras names
    renames: dict[str, str]
    notes: str = ""
    examples: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (keras expr, expected substrings)


# Keras arguments every optimizer accepts that change nothing we emit when at the default.
COMMON_DEFAULTS: dict[str, Any] = {
    "weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None,
    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
    "loss_scale_factor": None, "gradient_accumulation_steps": None, "name": None,
    "amsgrad": False,
}

OPTIMIZERS: tuple[OptimizerSpec, ...] = (
    OptimizerSpec(
        "Adam", ("adam",), "torch.optim.Adam",
        ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"),
        {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
        {"learning_rate": "lr", "beta_1": "betas[0]", "beta_2": "betas[1]", "epsilon": "eps",
         "amsgrad": "amsgrad"},
        notes="Keras adds epsilon to sqrt(v) before bias correction (epsilon-hat): torch's "
              "eps/sqrt(1 - beta_2**t), larger in the first steps; it matters only for "
              "gradients near eps",
        examples=(('"adam"', ("torch.optim.Adam(", "lr=0.001", "eps=1e-07")),
                  ("keras.optimizers.Adam(1e-4)", ("lr=1e-4", "eps=1e-07"))),
    ),
    OptimizerSpec(
        "AdamW", ("adamw",), "torch.optim.AdamW",
        ("learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad"),
        {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999,
         "epsilon": 1e-7},
        {"learning_rate": "lr", "weight_decay": "weight_decay", "beta_1": "betas[0]",
         "beta_2": "betas[1]", "epsilon": "eps", "amsgrad": "amsgrad"},
        examples=(('"adamw"', ("torch.optim.AdamW(", "weight_decay=0.004")),),
    ),
    OptimizerSpec(
        "SGD", ("sgd",), "torch.optim.SGD",
        ("learning_rate", "momentum", "nesterov"),
        {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
        {"learning_rate": "lr", "momentum": "momentum", "nesterov": "nesterov"},
        notes="with momentum: KerasSGD (runtime/optimizers.py), Keras's velocity "
              "v = momentum v - lr g; torch's v = momentum v + g differs once lr changes",
        examples=(('"sgd"', ("torch.optim.SGD(", "lr=0.01", "momentum=0.0")),
                  ("keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True)",
                   ("KerasSGD(", "lr=0.1", "momentum=0.9", "nesterov=True"))),
    ),
    OptimizerSpec(
        "RMSprop", ("rmsprop",), "KerasRMSprop",
        ("learning_rate", "rho", "momentum", "epsilon", "centered"),
        {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
         "centered": False},
        {"learning_rate": "lr", "rho": "alpha", "momentum": "momentum", "epsilon": "eps",
         "centered": "centered"},
        notes="Keras divides by sqrt(v + eps), torch by sqrt(v) + eps: KerasRMSprop "
              "(runtime/optimizers.py) keeps Keras's update",
        examples=(('"rmsprop"', ("KerasRMSprop(", "alpha=0.9", "eps=1e-07")),),
    ),
    OptimizerSpec(
        "Adagrad", ("adagrad",), "torch.optim.Adagrad",
        ("learning_rate", "initial_accumulator_value", "epsilon"),
        {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
        {"learning_rate": "lr", "initial_accumulator_value": "initial_accumulator_value",
         "epsilon": "eps"},
        notes="Keras divides by sqrt(acc + eps), torch by sqrt(acc) + eps",
        examples=(('"adagrad"', ("initial_accumulator_value=0.1", "lr=0.001")),),
    ),
    OptimizerSpec(
        "Adadelta", ("adadelta",), "torch.optim.Adadelta",
        ("learning_rate", "rho", "epsilon"),
        {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7},
        {"learning_rate": "lr", "rho": "rho", "epsilon": "eps"},
        examples=(('"adadelta"', ("lr=0.001", "rho=0.95", "eps=1e-07")),),
    ),
    OptimizerSpec(
        "Nadam", ("nadam",), "torch.optim.NAdam",
        ("learning_rate", "beta_1", "beta_2", "epsilon"),
        {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
        {"learning_rate": "lr", "beta_1": "betas[0]", "beta_2": "betas[1]", "epsilon": "eps"},
        notes="Keras 3 (and tf.keras's optimizer since TF 2.11) schedules the momentum with "
              "0.96 ** t: torch's momentum_decay=1.0; torch's default 4e-3, 0.96 ** (0.004 t), "
              "is Keras 2's legacy Nadam",
        examples=(('"nadam"', ("torch.optim.NAdam(", "momentum_decay=1.0")),),
    ),
    OptimizerSpec(
        "Adamax", ("adamax",), "torch.optim.Adamax",
        ("learning_rate", "beta_1", "beta_2", "epsilon"),
        {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
        {"learning_rate": "lr", "beta_1": "betas[0]", "beta_2": "betas[1]", "epsilon": "eps"},
        examples=(('"adamax"', ("torch.optim.Adamax(",)),),
    ),
)

# fixed extra keywords some torch optimizers need to match Keras (checked against Keras 3 and
# tf_keras: tests/test_training_numeric.py); ``keras.optimizers.legacy.*`` (Keras 2's
# optimizers before TF 2.11) where they differ
EXTRA_KWARGS: dict[str, str] = {"Nadam": "momentum_decay=1.0"}
LEGACY_KWARGS: dict[str, str] = {"Nadam": "momentum_decay=0.004"}

_BY_NAME: dict[str, OptimizerSpec] = {s.keras: s for s in OPTIMIZERS}
_BY_STRING: dict[str, OptimizerSpec] = {k: s for s in OPTIMIZERS for k in s.strings}


def lookup_optimizer(name: str) -> OptimizerSpec | None:
    """By class (``keras.optimizers.Adam`` / ``Adam``) or compile string (``"adam"``)."""
    short = name.rsplit(".", 1)[-1]
    return _BY_NAME.get(short) or _BY_STRING.get(short.lower())


@dataclass(frozen=True)
class ScheduleSpec:
    keras: str
    positional: tuple[str, ...]
    defaults: dict[str, Any]  # Keras defaults (None = required)
    initial: str  # parameter holding the initial learning rate (a template over params)
    factor: str  # lambda body over ``step`` giving lr(step) / initial
    examples: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())


SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec(
        "ExponentialDecay",
        ("initial_learning_rate", "decay_steps", "decay_rate", "staircase"),
        {"initial_learning_rate": None, "decay_steps": None, "decay_rate": None,
         "staircase": False},
        "{initial_learning_rate}",
        "{decay_rate} ** ({step_ratio})",
        examples=(("keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.96)",
                   ("LambdaLR(", "0.96 ** (step / 100)", '"interval": "step"')),),
    ),
    ScheduleSpec(
        "InverseTimeDecay",
        ("initial_learning_rate", "decay_steps", "decay_rate", "staircase"),
        {"initial_learning_rate": None, "decay_steps": None, "decay_rate": None,
         "staircase": False},
        "{initial_learning_rate}",
        "1 / (1 + {decay_rate} * {step_ratio})",
        examples=(("keras.optimizers.schedules.InverseTimeDecay(0.1, 10, 0.5)",
                   ("1 / (1 + 0.5 * step / 10)",)),),
    ),
    ScheduleSpec(
        "CosineDecay",
        ("initial_learning_rate", "decay_steps", "alpha"),
        {"initial_learning_rate": None, "decay_steps": None, "alpha": 0.0},
        "{initial_learning_rate}",
        "(1 - {alpha}) * 0.5 * (1 + np.cos(np.pi * min(step, {decay_steps}) / {decay_steps}))"
        " + {alpha}",
        examples=(("keras.optimizers.schedules.CosineDecay(0.1, 1000)",
                   ("np.cos(np.pi * min(step, 1000) / 1000)",)),),
    ),
    ScheduleSpec(
        "PiecewiseConstantDecay",
        ("boundaries", "values"),
        {"boundaries": None, "values": None},
        "{values}[0]",
        "{values}[sum(step > b for b in {boundaries})] / {values}[0]",
        examples=(("keras.optimizers.schedules.PiecewiseConstantDecay([100, 200], "
                   "[0.1, 0.01, 0.001])", ("sum(step > b for b in [100, 200])",)),),
    ),
    ScheduleSpec(
        "PolynomialDecay",
        ("initial_learning_rate", "decay_steps", "end_learning_rate", "power"),
        {"initial_learning_rate": None, "decay_steps": None, "end_learning_rate": 0.0001,
         "power": 1.0},
        "{initial_learning_rate}",
        "(({initial_learning_rate} - {end_learning_rate}) * (1 - min(step, {decay_steps}) / "
        "{decay_steps}) ** {power} + {end_learning_rate}) / {initial_learning_rate}",
        examples=(("keras.optimizers.schedules.PolynomialDecay(0.1, 100)",
                   ("min(step, 100) / 100",)),),
    ),
)

_SCHEDULES: dict[str, ScheduleSpec] = {s.keras: s for s in SCHEDULES}


def lookup_schedule(name: str) -> ScheduleSpec | None:
    return _SCHEDULES.get(name.rsplit(".", 1)[-1])
