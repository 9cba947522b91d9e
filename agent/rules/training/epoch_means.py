"""Keras's epoch logs (the loss and metrics averaged over an epoch's samples) in Lightning.

A ``self.log`` call per batch costs Lightning about as much as a small model's whole
training step, so the step only updates ``KerasEpochMean`` metrics (runtime/epoch_metrics.py:
an in-place sum, no host sync) and each stage's epoch-start hook logs them once: Lightning
computes them when the epoch ends, before any callback's ``on_*_epoch_end`` reads
``trainer.callback_metrics``, and resets them for the next epoch. Each value weighs its
batch's size, so batches count by their size, as in Keras.
"""

from __future__ import annotations

IND = "    "
_HOOKS = {"train": "on_train_epoch_start", "val": "on_validation_epoch_start",
          "test": "on_test_epoch_start"}
_PREFIX = {"train": "", "val": "val_", "test": "test_"}


def attr(stage: str) -> str:
    return f"{stage}_means"


def init_lines(keys: list[str], stages: list[str]) -> list[str]:
    """``__init__`` statements: one KerasEpochMean per logged key, one collection per stage."""
    mean = "KerasEpochMean()"
    one = len(stages) == 1  # the training stage alone: no prefix to clone with
    target = f"self.{attr(stages[0])}" if one else "means"
    items = [f'"{key}": {mean}' for key in keys]
    if len(items) == 1:
        body = [f"    {{{items[0]}}}, compute_groups=False"]
    else:
        body = ["    {", *[f"        {item}," for item in items], "    },",
                "    compute_groups=False,"]
    lines = ["# Keras's epoch means of the loss and metrics: each step updates them",
             f"{target} = torchmetrics.MetricCollection(", *body, ")"]
    if not one:
        lines += [f'self.{attr(stage)} = means.clone(prefix="{_PREFIX[stage]}")'
                  for stage in stages]
    return lines


def update(target: str, key: str, value: str, size: str) -> str:
    """The step's statement that adds one batch's ``value`` (a scalar tensor)."""
    return f'{target}["{key}"].update({value}, {size})'


def hooks(stages: list[str], objects: list[str]) -> list[str]:
    """The epoch-start hooks that log the stage's means (and its torchmetrics objects,
    ``objects``: attribute names with ``{stage}``) for Lightning to compute at the end."""
    out: list[str] = []
    for stage in stages:
        out.append(f"def {_HOOKS[stage]}(self) -> None:")
        if stage == stages[0]:
            out.append(f'{IND}"""Logged once per epoch: Lightning computes them when the '
                       'epoch ends."""')
        out += [f"{IND}self.log_dict(self.{o}, prog_bar=True)"
                for o in [attr(stage), *[o.format(stage=stage) for o in objects]]]
        out.append("")
    return out
