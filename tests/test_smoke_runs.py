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

from agent.rules.convert import convert_source
from agent.tools.module_loader import load_definitions


def _convert(tmp_path: Path, src: str, name: str = "case.py") -> tuple[str, Any]:
    res = convert_source(textwrap.dedent(src), name)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    path = tmp_path / name
    path.write_text(res.source, encoding="utf-8")
    return res.source, load_definitions(path)


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
