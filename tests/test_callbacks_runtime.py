"""Keras callback behaviour the converted scripts carry: EarlyStopping(restore_best_weights).

A module whose one weight moves by a fixed step every epoch and whose validation loss follows
a script: the best epoch is known, so the restored weight is known. Keras restores the best
epoch's weights at the end of training whether or not it stopped early.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from agent.rules.training.runtime.callbacks import KerasEarlyStopping

SCRIPT = [3.0, 1.0, 2.0, 2.5, 4.0, 5.0]  # best at epoch 1


class Scripted(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.weights_after: list[float] = []

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.w.sum()  # gradient 1: SGD(lr=1) moves w by -1 per step

    def on_train_epoch_end(self) -> None:
        self.weights_after.append(float(self.w))

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", torch.tensor(SCRIPT[self.current_epoch]))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=1.0)


def _fit(callback: pl.Callback, epochs: int = 6) -> Scripted:
    module = Scripted()
    data = DataLoader(TensorDataset(torch.zeros(1, 1)), batch_size=1)
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[callback], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(module, data, data)
    return module


def test_restore_best_weights_puts_back_the_best_epoch() -> None:
    module = _fit(KerasEarlyStopping(monitor="val_loss", patience=2, mode="min",
                                     restore_best_weights=True))
    assert len(module.weights_after) == 4  # stopped after two epochs without improvement
    assert float(module.w) == module.weights_after[1] == -2.0


def test_restore_best_weights_also_when_training_runs_to_the_end() -> None:
    module = _fit(KerasEarlyStopping(monitor="val_loss", patience=10, mode="min",
                                     restore_best_weights=True))
    assert len(module.weights_after) == 6
    assert float(module.w) == module.weights_after[1]


def test_without_restore_the_last_weights_stay() -> None:
    module = _fit(KerasEarlyStopping(monitor="val_loss", patience=2, mode="min"))
    assert float(module.w) == module.weights_after[-1] == -4.0
