"""Keras's epoch logs (the loss and metrics averaged over an epoch's samples) in Lightning.

A ``self.log`` call per batch costs Lightning about as much as a small model's whole
training step, so the step only adds its values to the stage's ``KerasEpochMeans``
(runtime/epoch_metrics.py: in-place sums, no host sync, one call per step) and each stage's
epoch-start hook logs them once: Lightning
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
    """``__init__`` statements: one ``KerasEpochMeans`` of the logged keys per stage."""
    names = ", ".join(f'"{key}"' for key in keys)
    if len(stages) == 1:  # the training stage alone: no prefix
        return ["# Keras's epoch means of the loss and metrics: each step adds to them",
                f"self.{attr(stages[0])} = KerasEpochMeans([{names}])"]
    lines = [f"logged_keys = [{names}]  # Keras's epoch logs: each step adds to their means"]
    for stage in stages:
        prefix = f', prefix="{_PREFIX[stage]}"' if _PREFIX[stage] else ""
        lines.append(f"self.{attr(stage)} = KerasEpochMeans(logged_keys{prefix})")
    return lines


def add(target: str, values: list[tuple[str, str]], size: str) -> str:
    """The step's statement that adds one batch's values (``(key, scalar tensor)`` pairs)."""
    items = ", ".join(f'"{key}": {value}' for key, value in values)
    return f"{target}.add({{{items}}}, {size})"


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
