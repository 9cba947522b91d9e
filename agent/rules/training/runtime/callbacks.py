"""Keras callback behaviour Lightning's callbacks lack, copied into converted scripts.

Lightning's ``EarlyStopping`` has no ``restore_best_weights``. ``KerasEarlyStopping`` adds it
as Keras does it: the weights of the epoch with the best monitored value are kept (the first
checked epoch counts as best) and put back when training ends, whether or not it stopped
early.
"""

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
