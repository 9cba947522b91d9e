"""Input shapes read off ``keras.datasets`` arrays that the script rebinds and names before a
model reads them (agent/rules/datasets.py ``rebound_array``, models/extract.py): the Keras 2
examples' ``x_train = x_train.astype('float32')`` then ``input_shape = x_train.shape[1:]``
passed to a builder, and ``Conv2D(..., input_shape=x_train.shape[1:])`` in an ``add`` chain.
The converted classes must build without arguments (their sizes are the published data's),
take the shape Keras takes, and compute what Keras computes, weights ported."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from pathlib import Path
from typing import Any

import keras
import libcst as cst
import numpy as np
import pytest
import pytorch_lightning as pl

from agent.equivalence import compare, exec_source
from agent.rules.imports import collect_imports
from agent.rules.values import module_constants
from tests.definitions import convert_and_load


def _env(src: str) -> dict[str, Any]:
    module = cst.parse_module(textwrap.dedent(src))
    return module_constants(module, collect_imports(module))


_LOAD = "from keras.datasets import mnist\n(x_train, y_train), (x_test, y_test) = mnist.load_data()\n"


@pytest.mark.parametrize(("lines", "expected"), [
    ("x_train = x_train.astype('float32')\nshape = x_train.shape[1:]", (28, 28)),
    ("x_train = x_train / 255.0\nshape = x_train.shape[1:]", (28, 28)),
    ("x_train = x_train.reshape(60000, 784)\nshape = x_train.shape[1:]", (784,)),
    ("x_train = x_train.reshape(-1, 28, 28, 1)\nshape = x_train.shape[1:]", (28, 28, 1)),
    ("x_train = x_train.reshape(x_train.shape[0], 28, 28, 1)\nshape = x_train.shape[1:]",
     (28, 28, 1)),
    # a chain of calls is not followed (yet): unknown, never guessed
    ("x_test = x_test.astype('float32').reshape(-1, 784)\nshape = x_test.shape[1:]", None),
    ("x_train = x_train.reshape(-1, 7, 7)\nshape = x_train.shape[1:]", (7, 7)),
    ("x_train = x_train.reshape(-1, 13)\nshape = x_train.shape[1:]", None),  # not a divisor
    ("x_train = x_train.reshape(-1, 5, -1)\nshape = x_train.shape[1:]", None),
    ("x_train = x_train[:100]\nshape = x_train.shape[1:]", None),
    ("x_train = np.pad(x_train, 2)\nshape = x_train.shape[1:]", None),
])
def test_a_rebound_array_keeps_a_known_shape_only_when_it_is_certain(
        lines: str, expected: tuple[int, ...] | None) -> None:
    env = _env(_LOAD + lines + "\n")
    assert env.get("shape") == expected


def test_reshape_sizes_must_divide_the_array() -> None:
    assert _env(_LOAD + "x_train = x_train.reshape(-1, 28 * 28)\nn = x_train.shape[1]\n")[
        "n"] == 784
    # 60000 * 784 is not a multiple of 1001: NumPy would raise, the shape stays unknown
    assert "n" not in _env(_LOAD + "x_train = x_train.reshape(-1, 1001)\nn = x_train.shape[1]\n")


_SIAMESE_STYLE = """
import keras
from keras.datasets import mnist
from keras.models import Model
from keras.layers import Input, Flatten, Dense, Lambda
from keras import backend as K

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train.astype('float32')
x_train /= 255
input_shape = x_train.shape[1:]


def create_tower(input_shape):
    inp = Input(shape=input_shape)
    x = Flatten()(inp)
    x = Dense(6, activation='relu')(x)
    return Model(inp, x)


tower = create_tower(input_shape)
model = tower
model.compile(loss='mse', optimizer='adam')
model.fit(x_train, x_train[:, 0, :6], epochs=1, batch_size=2, verbose=0)
"""

_ADD_CHAIN = """
import keras
from keras.datasets import cifar10
from keras.models import Sequential
from keras.layers import Conv2D, Flatten, Dense

num_classes = 10
(x_train, y_train), (x_test, y_test) = cifar10.load_data()
y_train = keras.utils.to_categorical(y_train, num_classes)

model = Sequential()
model.add(Conv2D(4, (3, 3), padding='same', activation='relu', input_shape=x_train.shape[1:]))
model.add(Flatten())
model.add(Dense(num_classes, activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])

x_train = x_train.astype('float32')
x_train /= 255
model.fit(x_train, y_train, batch_size=2, epochs=1, verbose=0)
"""


def _only_module(module: Any) -> pl.LightningModule:
    (cls,) = [obj for obj in vars(module).values() if isinstance(obj, type)
              and issubclass(obj, pl.LightningModule) and obj is not pl.LightningModule]
    return cls()  # no argument: the sizes are the published data's


def _stub(monkeypatch: Any, name: str, x: np.ndarray, y: np.ndarray) -> None:
    monkeypatch.setattr(getattr(keras.datasets, name), "load_data",
                        lambda *a, **k: ((x, y), (x, y)))


@pytest.mark.slow
@pytest.mark.parametrize(("src", "loader", "x_shape", "y_shape", "var"), [
    (_SIAMESE_STYLE, "mnist", (4, 28, 28), (4,), "tower"),
    (_ADD_CHAIN, "cifar10", (4, 32, 32, 3), (4, 1), "model"),
])
def test_the_class_builds_alone_and_matches_keras(
        tmp_path: Path, monkeypatch: Any, src: str, loader: str, x_shape: tuple[int, ...],
        y_shape: tuple[int, ...], var: str) -> None:
    res, module = convert_and_load(tmp_path, src)
    assert "x_train=" not in res.source and "LazyLinear" not in res.source, res.source
    built = _only_module(module)
    rng = np.random.default_rng(0)
    _stub(monkeypatch, loader, rng.integers(0, 255, x_shape).astype("uint8"),
          rng.integers(0, 10, y_shape))
    keras_model = exec_source(textwrap.dedent(src), "k2l_original")[var]
    assert tuple(built.example_input_array.shape[1:]) == tuple(keras_model.input_shape[1:])
    eq = compare(keras_model, built)
    assert eq.passed, eq.message
