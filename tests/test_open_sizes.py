"""The example input along open axes (agent/rules/models/open_sizes.py): a model over token
sequences or images of any size must run on its own ``example_input_array``, so the open
size is the smallest of 8, 16, 32, ... that every convolution and pooling window accepts.
The converted module runs on it and computes what Keras computes there, weights ported."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from tests.definitions import convert_and_load

_TEXT_CONV = """
import keras
from keras import layers

inputs = keras.Input(shape=(None,), dtype="int64")
x = layers.Embedding(50, 8)(inputs)
x = layers.Conv1D(6, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.Conv1D(6, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.GlobalMaxPooling1D()(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
"""

_IMAGE_POOLS = """
import keras
from keras import layers

inputs = keras.Input(shape=(None, None, 3))
x = inputs
for filters in (4, 4, 4, 4):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
x = layers.GlobalAveragePooling2D()(x)
model = keras.Model(inputs, layers.Dense(2)(x))
"""

_SHORT_WINDOWS = """
import keras
from keras import layers

inputs = keras.Input(shape=(None, 4))
x = layers.Conv1D(3, 3, padding="same")(inputs)
x = layers.GlobalAveragePooling1D()(x)
model = keras.Model(inputs, layers.Dense(1)(x))
"""


def _example(src: str) -> torch.Tensor:
    res = convert_source(textwrap.dedent(src), "case.py")
    ns: dict[str, Any] = {}
    line = next(ln for ln in res.source.splitlines() if "example_input_array" in ln)
    exec("import torch\nx = " + line.split("=", 1)[1].strip(), ns)
    return ns["x"]


@pytest.mark.parametrize(("src", "shape"), [
    (_TEXT_CONV, (1, 32)),  # two valid kernels of 7, stride 3: at least 25 steps
    (_IMAGE_POOLS, (1, 16, 16, 3)),  # four 2x2 poolings: at least 16 pixels a side
    (_SHORT_WINDOWS, (1, 8, 4)),  # 'same' windows accept any size: the usual 8
])
def test_the_open_size_is_the_first_that_every_window_accepts(
        src: str, shape: tuple[int, ...]) -> None:
    assert tuple(_example(src).shape) == shape


@pytest.mark.slow
@pytest.mark.parametrize("src", [_TEXT_CONV, _IMAGE_POOLS])
def test_the_module_runs_on_its_example_and_matches_keras(tmp_path: Path, src: str) -> None:
    _res, module = convert_and_load(tmp_path, src)
    (cls,) = [o for o in vars(module).values() if isinstance(o, type)
              and issubclass(o, pl.LightningModule) and o is not pl.LightningModule]
    built = cls()
    built.eval()
    with torch.no_grad():
        built(built.example_input_array)  # 8 steps failed here: kernel larger than input
    keras_model = exec_source(textwrap.dedent(src), "k2l_original")["model"]
    eq = compare(keras_model, built)
    assert eq.passed, eq.message
