"""``fit(x, y, validation_split=f)`` → one ``TensorDataset`` and two ``Subset``s of it.

Keras holds out the *last* fraction of the samples before shuffling
(``array_slicing.train_validation_split``), and only when no ``validation_data`` is given
(that overrides the split). The converted statements are run here on arrays and their
loaders compared with Keras's own split of the same arrays.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from agent.rules.convert import convert_source

_SCRIPT = """\
import numpy as np
import keras

x = np.arange(40, dtype="float32").reshape(10, 4)
y = np.arange(10) % 3
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, y, {args}, verbose=0)
"""


def _data_code(args: str) -> tuple[str, dict[str, Any]]:
    """The converted script's statements between the model and the Trainer, run on the
    script's arrays."""
    out = convert_source(_SCRIPT.format(args=args), "fit.py").source
    assert "fit_tensors" not in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model = "))
    end = next(i for i, line in enumerate(lines) if line.startswith("trainer = "))
    code = "\n".join(lines[start + 1:end])
    x = np.arange(40, dtype="float32").reshape(10, 4)
    namespace: dict[str, Any] = {"np": np, "torch": torch, "x": x, "y": np.arange(10) % 3,
                                 "DataLoader": DataLoader, "Subset": Subset,
                                 "TensorDataset": TensorDataset}
    exec(compile(code, "fit.py", "exec"), namespace)
    return code, namespace


def _rows(loader: DataLoader[Any]) -> list[list[float]]:
    dataset = loader.dataset
    return [[float(v) for v in dataset[i][0]] for i in range(len(dataset))]  # type: ignore[arg-type]


def test_split_is_two_subsets_of_one_dataset_holding_out_the_last_fraction() -> None:
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    code, ns = _data_code("validation_split=0.3")
    assert code.count("TensorDataset(") == 1
    assert "DataLoader(Subset(fit_data, range(split_at)), batch_size=32, shuffle=True)" in code
    assert "Subset(fit_data, range(split_at, len(fit_data)))" in code
    assert "# Keras holds out the last 30% of the samples, before shuffling" in code
    x, y = ns["x"], ns["y"]
    (kx, _ky), (vx, vy) = train_validation_split((x, y), validation_split=0.3)
    assert _rows(ns["train_loader"]) == np.asarray(kx).tolist()
    assert _rows(ns["val_loader"]) == np.asarray(vx).tolist()
    assert [int(ns["val_loader"].dataset[i][1]) for i in range(len(vy))] == list(vy)


def test_class_weights_travel_in_the_same_dataset() -> None:
    weights = {0: 1.0, 1: 2.0, 2: 0.5}
    code, ns = _data_code(f"validation_split=0.2, class_weight={weights}")
    assert "sample_weights = torch.tensor(" in code
    val = ns["val_loader"].dataset
    held_out = ns["y"][8:]  # the last 2 of 10 samples
    assert [float(val[i][2]) for i in range(len(val))] == [weights[c] for c in held_out]


def test_validation_data_overrides_the_split_as_in_keras() -> None:
    code, ns = _data_code("validation_split=0.3, validation_data=(x[:2], y[:2])")
    assert "Subset" not in code and "split_at" not in code
    assert len(ns["train_loader"].dataset) == 10  # every sample trains
    assert len(ns["val_loader"].dataset) == 2
