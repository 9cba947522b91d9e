"""Converted scripts whose LightningModule can be built and run as it is (issue 10).

Each case converts a small Keras program, loads the output's definitions without its script
code (agent/tools/module_loader.py, as the checks do), builds every LightningModule that
needs no arguments and runs forward on its own ``example_input_array``; the output shape is
compared with what the Keras original (Keras 3 on torch) returns for the same input.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from tests.definitions import convert_and_load


def _convert(tmp_path: Path, src: str, name: str = "case.py") -> tuple[str, Any]:
    res, module = convert_and_load(tmp_path, src, name)
    return res.source, module


def _modules(module: Any) -> list[pl.LightningModule]:
    return [obj() for obj in vars(module).values() if isinstance(obj, type)
            and issubclass(obj, pl.LightningModule) and obj is not pl.LightningModule]


def _keras_output_shape(src: str, builder: str, x: np.ndarray) -> tuple[int, ...]:
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(src), "original.py", "exec"), namespace)
    return tuple(namespace[builder]()(x).shape)


_BUILT_TEXT = """\
    from keras.models import Sequential
    from keras.layers import Dense, Embedding, LSTM

    VOCAB = 50
    SEQ_LEN = 12

    def build_model(width=8):
        model = Sequential()
        model.add(Embedding(VOCAB, width))
        model.add(LSTM(6))
        model.add(Dense(1, activation="sigmoid"))
        model.build(input_shape=(None, SEQ_LEN))
        model.compile(loss="binary_crossentropy", optimizer="adam")
        return model
    """

_BUILT_IMAGE = """\
    import keras
    from keras import layers

    def build_model():
        model = keras.Sequential([layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                                  layers.Dense(3, activation="softmax")])
        model.build((None, 9, 7, 2))
        return model
    """


@pytest.mark.parametrize(("src", "dtype", "shape"), [
    (_BUILT_TEXT, torch.long, (1, 12)),
    (_BUILT_IMAGE, torch.float32, (1, 9, 7, 2)),
])
def test_sequential_built_with_a_shape_runs_on_its_example_input(
        tmp_path: Path, src: str, dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    """``model.build(shape)`` (no input shape on the layers): the class gets an example input
    of that shape (token ids after an Embedding) and runs forward on it, as Keras would."""
    _, module = _convert(tmp_path, src)
    (built,) = _modules(module)
    x = built.example_input_array
    assert isinstance(x, torch.Tensor) and x.dtype == dtype and tuple(x.shape) == shape
    built.eval()
    with torch.no_grad():
        out = built(x)
    keras_x = np.zeros(shape, dtype="int32" if dtype == torch.long else "float32")
    assert tuple(out.shape) == _keras_output_shape(src, "build_model", keras_x)


_DATA_SIZED = """\
    import numpy as np
    import keras
    from keras import layers

    units = 5
    series = np.random.default_rng(0).normal(size=(40, 12))
    series = series.reshape(series.shape[0], -1, 3)
    series = series.astype("float32")
    series /= 4
    model = keras.Sequential()
    model.add(layers.GRU(units, input_shape=series.shape[1:]))
    model.add(layers.Dense(2, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    """


def test_input_shape_read_from_a_reshaped_array_sizes_the_model(tmp_path: Path) -> None:
    """``input_shape=x.shape[1:]`` after ``x = x.reshape(n, -1, 3)`` and shape-keeping steps:
    the GRU gets its input size (3) and the class an example input with the open dimension,
    built without the data array (a defs-only load has no ``series``)."""
    code, module = _convert(tmp_path, _DATA_SIZED)
    cls = code.split("(pl.LightningModule):")[1].split("\nmodel = ")[0]
    assert "nn.GRU(3, units" in cls and "series" not in cls
    (built,) = _modules(module)
    x = built.example_input_array
    assert isinstance(x, torch.Tensor) and x.shape[0] == 1 and x.shape[-1] == 3
    built.eval()
    with torch.no_grad():
        out = built(x)
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(_DATA_SIZED), "original.py", "exec"), namespace)
    assert tuple(out.shape) == tuple(namespace["model"](np.zeros((1, 4, 3), "float32")).shape)


def test_input_shape_of_an_array_changed_after_its_reshape_stays_unknown(tmp_path: Path) -> None:
    """A call the rules do not know (``np.expand_dims``) after the reshape: no size is guessed."""
    src = _DATA_SIZED.replace('    series /= 4\n', '    series = np.expand_dims(series, -1)\n')
    code, _ = _convert(tmp_path, src)
    assert "nn.GRU(3" not in code
