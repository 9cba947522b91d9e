"""ModelCheckpoint and CSVLogger write the file the script names, when and as Keras does
(runtime/callbacks.py): both sides are fed the same epoch logs and their files compared."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keras
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.runtime.callbacks import KerasCSVLogger, KerasModelCheckpoint
from tests.test_functional_graphs import runs

EPOCH_LOGS = [
    {"loss": 0.9, "accuracy": 0.5, "val_loss": 0.8, "val_accuracy": 0.55},
    {"loss": 0.7, "accuracy": 0.6, "val_loss": 0.85, "val_accuracy": 0.6},
    {"loss": 0.5, "accuracy": 0.7, "val_loss": 0.6, "val_accuracy": 0.58},
    {"loss": 0.4, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7},
]


class FakeTrainer(SimpleNamespace):
    """What the callbacks read of a Trainer: the epoch, its logged values, saving."""

    def save_checkpoint(self, path: str) -> None:
        Path(path).write_text("checkpoint")


def drive_ours(callback: Any, logs: list[dict[str, float]]) -> None:
    module = torch.nn.Linear(2, 1)
    trainer = FakeTrainer(sanity_checking=False, current_epoch=0, callback_metrics={})
    if hasattr(callback, "on_train_start"):
        callback.on_train_start(trainer, module)
    for epoch, values in enumerate(logs):
        trainer.current_epoch = epoch
        trainer.callback_metrics = {k: torch.tensor(v) for k, v in values.items()}
        callback.on_train_epoch_end(trainer, module)


def drive_keras(callback: Any, logs: list[dict[str, float]]) -> None:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse", metrics=["accuracy"])
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, values in enumerate(logs):
        callback.on_epoch_begin(epoch)
        # Keras's logs hold float32 values as Python floats, as the Trainer's tensors do
        callback.on_epoch_end(epoch, {k: float(torch.tensor(v)) for k, v in values.items()})
    callback.on_train_end()


@pytest.mark.parametrize("kwargs", [
    {"save_best_only": True},
    {"save_best_only": True, "monitor": "val_accuracy", "mode": "max"},
    {"save_best_only": True, "initial_value_threshold": 0.7},
    {},
])
def test_checkpoint_writes_the_files_keras_writes(tmp_path: Path, kwargs: dict[str, Any]
                                                  ) -> None:
    pattern = "e{epoch:02d}-{val_loss:.2f}"
    ours_dir, keras_dir = tmp_path / "ours", tmp_path / "keras"
    ours_dir.mkdir()
    keras_dir.mkdir()
    drive_ours(KerasModelCheckpoint(str(ours_dir / f"{pattern}.ckpt"), **kwargs), EPOCH_LOGS)
    drive_keras(keras.callbacks.ModelCheckpoint(str(keras_dir / f"{pattern}.keras"),
                                                **kwargs), EPOCH_LOGS)
    written = sorted(p.name.removesuffix(".ckpt") for p in ours_dir.iterdir())
    expected = sorted(p.name.removesuffix(".keras") for p in keras_dir.iterdir())
    assert written == expected and written, (written, expected)


def test_checkpoint_of_weights_only_holds_the_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "best.pt"
    drive_ours(KerasModelCheckpoint(str(path), save_weights_only=True), EPOCH_LOGS[:1])
    state = torch.load(path)
    assert set(state) == {"weight", "bias"}


@pytest.mark.parametrize("logs,kwargs", [
    (EPOCH_LOGS, {}),
    (EPOCH_LOGS, {"separator": ";"}),
    ([{"loss": 0.5, "accuracy": 0.25}, {"loss": 0.25, "accuracy": 0.5}], {}),  # no val_
])
def test_csv_log_is_byte_for_byte_the_keras_one(tmp_path: Path, logs: list[dict[str, float]],
                                               kwargs: dict[str, Any]) -> None:
    ours, theirs = tmp_path / "ours.csv", tmp_path / "keras.csv"
    drive_ours(KerasCSVLogger(str(ours), **kwargs), logs)
    drive_keras(keras.callbacks.CSVLogger(str(theirs), **kwargs), logs)
    assert ours.read_bytes() == theirs.read_bytes(), (ours.read_text(), theirs.read_text())


def test_csv_log_appends_without_a_second_header(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.csv", tmp_path / "keras.csv"
    for _ in range(2):
        drive_ours(KerasCSVLogger(str(ours), append=True), EPOCH_LOGS[:2])
        drive_keras(keras.callbacks.CSVLogger(str(theirs), append=True), EPOCH_LOGS[:2])
    assert ours.read_bytes() == theirs.read_bytes()
    assert ours.read_text().count("epoch") == 1


SCRIPT = textwrap.dedent('''\
    import os
    import tempfile

    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = np.random.rand(32, 4).astype("float32")
    y = np.random.randint(0, 3, 32)
    with tempfile.TemporaryDirectory() as tmp:
        callbacks = [
            keras.callbacks.ModelCheckpoint(os.path.join(tmp, "best.keras"), save_best_only=True),
            keras.callbacks.CSVLogger(os.path.join(tmp, "log.csv")),
        ]
        model.fit(x, y, epochs=2, validation_split=0.25, callbacks=callbacks)
        assert os.path.exists(os.path.join(tmp, "best.keras"))
        header = open(os.path.join(tmp, "log.csv")).readline().strip()
        assert header == "epoch,accuracy,loss,val_accuracy,val_loss", header
    ''')


@pytest.mark.slow
def test_the_converted_script_writes_both_files_without_warnings(tmp_path: Path) -> None:
    result = convert_source(SCRIPT, "script.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert not [w for w in result.warnings if "Checkpoint" in w.message or "CSV" in w.message]
    assert "KerasModelCheckpoint(" in result.source and "KerasCSVLogger(" in result.source
    runs(result.source, tmp_path)


CHECKPOINT_ONLY = textwrap.dedent('''\
    import numpy as np
    import keras

    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 4), "float32"), np.zeros((8, 1), "float32")
    model.fit(x, y, epochs=3, callbacks=[keras.callbacks.ModelCheckpoint({path!r})])
    ''')


@pytest.mark.slow
@pytest.mark.parametrize("name,files", [
    ("ckpt_{epoch}.keras", ["ckpt_1.ckpt", "ckpt_2.ckpt", "ckpt_3.ckpt"]),  # one per epoch
    ("best.keras", ["best.ckpt"]),  # overwritten each epoch, as in Keras
])
def test_three_epochs_leave_the_files_keras_leaves(tmp_path: Path, name: str,
                                                   files: list[str]) -> None:
    """Without save_best_only Keras writes every epoch, ``{epoch}`` counted from 1."""
    source = convert_source(CHECKPOINT_ONLY.format(path=str(tmp_path / name)),
                            "script.py").source
    assert "KerasModelCheckpoint(" in source
    assert '"' + str(tmp_path / name.replace(".keras", ".ckpt")) + '"' in source, source
    namespace: dict[str, Any] = {"__name__": "converted"}
    exec(compile(source, "script.py", "exec"), namespace)  # noqa: S102
    assert sorted(p.name for p in tmp_path.iterdir()) == files
