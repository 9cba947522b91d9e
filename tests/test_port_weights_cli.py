"""`k2l-agent port-weights`: a saved Keras model's weights land in the converted module."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from cli import app

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

SOURCE = '''\
import keras
from keras import layers


def build_model():
    inputs = keras.Input(shape=(6, 6, 2))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(3)(x)
    return keras.Model(inputs, outputs)
'''


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path, object]:
    original = tmp_path / "original.py"
    original.write_text(SOURCE)
    converted = tmp_path / "converted.py"
    converted.write_text(convert_source(SOURCE).source)
    keras.utils.set_random_seed(1)
    model = exec_source(SOURCE, "orig")["build_model"]()
    # non-trivial BatchNorm statistics, so a wrong mapping cannot pass by accident
    bn = next(layer for layer in model.layers if "batch_normalization" in layer.name)
    bn.moving_mean.assign(np.linspace(-1, 1, 4).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2, 4).astype("float32"))
    return original, converted, model


def _check(converted: Path, state: Path, model: object) -> None:
    module = exec_source(converted.read_text(), "conv")["build_model"]()
    module.load_state_dict(torch.load(state))
    module.eval()
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    ref = keras.ops.convert_to_numpy(model(x, training=False))  # type: ignore[operator]
    got = module(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_port_from_keras_file(files: tuple[Path, Path, object], tmp_path: Path,
                              suffix: str) -> None:
    _, converted, model = files
    saved = tmp_path / f"trained{suffix}"
    model.save(saved)  # type: ignore[attr-defined]
    out = tmp_path / "weights.pt"
    result = CliRunner().invoke(app, ["port-weights", str(saved), f"{converted}:build_model()",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert "ported" in result.output
    _check(converted, out, model)


def test_port_from_weights_file_with_builder(files: tuple[Path, Path, object], tmp_path: Path) -> None:
    original, converted, model = files
    saved = tmp_path / "trained.weights.h5"
    model.save_weights(saved)  # type: ignore[attr-defined]
    out = tmp_path / "weights.pt"
    result = CliRunner().invoke(app, ["port-weights", str(saved), f"{converted}:build_model()",
                                      str(out), "--keras-builder", f"{original}:build_model()"])
    assert result.exit_code == 0, result.output
    _check(converted, out, model)


def test_mismatch_names_the_layer(files: tuple[Path, Path, object], tmp_path: Path) -> None:
    _, converted, model = files
    saved = tmp_path / "trained.keras"
    model.save(saved)  # type: ignore[attr-defined]
    wrong = tmp_path / "wrong.py"
    text = converted.read_text()
    wrong_text = re.sub(r"nn\.Linear\(([^,()]+), 3\)", r"nn.Linear(\1, 5)", text)
    assert wrong_text != text  # the head's output size really changed
    wrong.write_text(wrong_text)
    result = CliRunner().invoke(app, ["port-weights", str(saved), f"{wrong}:build_model()",
                                      str(tmp_path / "w.pt")])
    assert result.exit_code == 1
    assert "dense" in result.output and "does not fit" in result.output
