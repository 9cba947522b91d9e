"""Keras callback behaviour Lightning's callbacks lack, copied into converted scripts.

Lightning's ``EarlyStopping`` has no ``restore_best_weights``. ``KerasEarlyStopping`` adds it
as Keras does it: the weights of the epoch with the best monitored value are kept (the first
checked epoch counts as best) and put back when training ends, whether or not it stopped
early.

Lightning's ``ModelCheckpoint`` and ``CSVLogger`` choose their own file names (``.ckpt``
suffixes, ``version_N`` folders, 0-based epochs), so scripts that read the file afterwards
broke. ``KerasModelCheckpoint`` and ``KerasCSVLogger`` write the file the script names, when
and as Keras does.
"""

import csv
import os
from typing import Any

import pytorch_lightning as pl
import torch


class KerasEarlyStopping(pl.callbacks.EarlyStopping):
    """``pl.callbacks.EarlyStopping`` with Keras's ``restore_best_weights``."""

    def __init__(self, *args: Any, restore_best_weights: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.restore_best_weights = restore_best_weights
        self.best_weights: dict[str, torch.Tensor] | None = None

    def _keep_if_best(self, pl_module: pl.LightningModule, before: Any) -> None:
        if self.restore_best_weights and self.best_score is not before:  # it improved
            self.best_weights = {k: v.detach().clone()
                                 for k, v in pl_module.state_dict().items()}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.best_weights = None  # Keras: every fit() starts over

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        before = self.best_score
        super().on_train_epoch_end(trainer, pl_module)
        self._keep_if_best(pl_module, before)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        before = self.best_score
        super().on_validation_end(trainer, pl_module)
        self._keep_if_best(pl_module, before)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            pl_module.load_state_dict(self.best_weights)


def keras_epoch_logs(trainer: pl.Trainer) -> dict[str, float]:
    """The epoch's logs under Keras's names: what the converted steps logged this epoch."""
    return {key: float(value) for key, value in trainer.callback_metrics.items()
            if not key.startswith("test_")}


class KerasModelCheckpoint(pl.Callback):
    """Keras's ``ModelCheckpoint`` at the end of every epoch: the path is formatted
    with ``epoch`` counted from 1 and the epoch's logs; with ``save_best_only`` only an epoch
    that improves ``monitor`` (strictly, after ``initial_value_threshold``) writes. A
    Lightning checkpoint, or the ``state_dict`` with ``save_weights_only``."""

    def __init__(self, filepath: str, monitor: str = "val_loss", save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "min",
                 initial_value_threshold: float | None = None) -> None:
        self.filepath = os.fspath(filepath)
        self.monitor, self.mode = monitor, mode
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.best = initial_value_threshold

    def _improved(self, current: float) -> bool:
        if self.best is None:
            return True
        return current > self.best if self.mode == "max" else current < self.best

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        logs = keras_epoch_logs(trainer)
        path = self.filepath.format(epoch=trainer.current_epoch + 1, **logs)
        if self.save_best_only and self.monitor in logs:  # Keras saves when it is missing
            if not self._improved(logs[self.monitor]):
                return
            self.best = logs[self.monitor]
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        if self.save_weights_only:
            torch.save(pl_module.state_dict(), path)
        else:
            trainer.save_checkpoint(path)


class KerasCSVLogger(pl.Callback):
    """Keras's ``CSVLogger``: one row per epoch in the script's file, ``epoch`` from
    0 then the logs' keys sorted (``val_`` twins added when the first epoch has none), "NA"
    for a missing value; ``append`` continues an existing file without a second header."""

    def __init__(self, filename: str, separator: str = ",", append: bool = False) -> None:
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys: list[str] | None = None
        self.header = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.keys = None
        self.header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as existing:
                self.header = not existing.readline()
        elif not self.append:
            open(self.filename, "w").close()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        logs = keras_epoch_logs(trainer)
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        with open(self.filename, "a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=["epoch", *self.keys],
                                    delimiter=self.separator)
            if self.header:
                writer.writeheader()
                self.header = False
            writer.writerow({"epoch": trainer.current_epoch,
                             **{k: logs.get(k, "NA") for k in self.keys}})
