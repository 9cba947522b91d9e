"""ModelCheckpoint without ``save_best_only``: Keras writes a file every epoch, so a pattern
in the name (``ckpt_{epoch}.keras``) leaves one file per epoch; the converted callback keeps
them all (``save_top_k=-1``), while a fixed name is overwritten in both."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from agent.rules.convert import convert_source

_SRC = """\
import numpy as np
import keras
from keras import layers

model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
x, y = np.zeros((8, 4), "float32"), np.zeros((8, 1), "float32")
model.fit(x, y, epochs=3, callbacks=[keras.callbacks.ModelCheckpoint({path!r})])
"""


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return (self.w - batch[0]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _callback(path: str) -> str:
    code = convert_source(textwrap.dedent(_SRC.format(path=path))).source
    found = re.search(r"pl\.callbacks\.ModelCheckpoint\((.*?)\)\n", code, re.S)
    assert found is not None, code
    return found.group(1)


def _files_after_three_epochs(tmp_path: Path, arguments: str) -> list[str]:
    callback = eval(f"pl.callbacks.ModelCheckpoint({arguments})", {"pl": pl})  # noqa: S307
    callback.dirpath = str(tmp_path)
    data = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)
    trainer = pl.Trainer(max_epochs=3, callbacks=[callback], logger=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(_Tiny(), data)
    return sorted(p.name for p in tmp_path.iterdir())


def test_a_pattern_keeps_a_file_per_epoch(tmp_path: Path) -> None:
    arguments = _callback("ckpt_{epoch}.keras")
    assert "save_top_k=-1" in arguments
    assert _files_after_three_epochs(tmp_path, arguments) == [
        "ckpt_0.ckpt", "ckpt_1.ckpt", "ckpt_2.ckpt"]


def test_a_fixed_name_is_one_file(tmp_path: Path) -> None:
    arguments = _callback("model.keras")
    assert "save_top_k=1" in arguments
    assert _files_after_three_epochs(tmp_path, arguments) == ["model.ckpt"]


_SRC_VARIABLE = """\
import numpy as np
import keras
from keras import layers

checkpoint_path = {path!r}
model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
x, y = np.zeros((8, 4), "float32"), np.zeros((8, 1), "float32")
model.fit(x, y, epochs=3, callbacks=[keras.callbacks.ModelCheckpoint(checkpoint_path)])
"""


def _run_time_files(tmp_path: Path, name: str) -> list[str]:
    """The path in a variable: directory and name are split when the script runs, so the
    files land in the directory Keras would write to."""
    path = str(tmp_path / "out" / name)
    code = convert_source(textwrap.dedent(_SRC_VARIABLE.format(path=path))).source
    found = re.search(r"pl\.callbacks\.ModelCheckpoint\((.*?)\)\n", code, re.S)
    assert found is not None, code
    assert "os.path.dirname(os.path.abspath(checkpoint_path))" in found.group(1)
    assert "import os" in code.splitlines()
    import os

    callback = eval(f"pl.callbacks.ModelCheckpoint({found.group(1)})",  # noqa: S307
                    {"pl": pl, "os": os, "checkpoint_path": path})
    data = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)
    trainer = pl.Trainer(max_epochs=3, callbacks=[callback], logger=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(_Tiny(), data)
    return sorted(p.name for p in (tmp_path / "out").iterdir())


def test_a_path_in_a_variable_is_split_at_run_time(tmp_path: Path) -> None:
    assert _run_time_files(tmp_path, "w_{epoch}.weights.h5") == [
        "w_0.weights.ckpt", "w_1.weights.ckpt", "w_2.weights.ckpt"]


def test_a_fixed_path_in_a_variable_is_one_file(tmp_path: Path) -> None:
    assert _run_time_files(tmp_path, "best.keras") == ["best.ckpt"]
