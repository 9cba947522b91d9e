"""Sizes read off ``keras.datasets`` arrays (agent/rules/datasets.py, values.py).

``image_size = x_train.shape[1]`` after ``mnist.load_data()`` is known from the loader's
published shapes; a decoder sized from ``K.int_shape`` of the encoder's tensor then converts
with real sizes, compared with Keras on the same program.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from typing import Any

import keras
import libcst as cst
import numpy as np
import pytest

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.rules.values import module_constants

pytestmark = pytest.mark.slow


def _constants(src: str) -> dict[str, Any]:
    return module_constants(cst.parse_module(textwrap.dedent(src)))


def test_sizes_read_off_a_loaded_dataset_are_known() -> None:
    env = _constants("""
        from keras.datasets import cifar10, mnist
        (x_train, y_train), (x_test, _) = mnist.load_data()
        side = x_train.shape[1]
        last = x_train.shape[-1]
        per_sample = x_test.shape[1:]
        (c_train, c_labels), _pair = cifar10.load_data(), None
        (cx, cy), (cxt, cyt) = cifar10.load_data()
        channels = cx.shape[3]
        label_width = cy.shape[1]
    """)
    assert env["side"] == 28 and env["last"] == 28 and env["per_sample"] == (28, 28)
    assert env["channels"] == 3 and env["label_width"] == 1
    assert "x_train" not in env  # the arrays themselves are no constants


def test_reshaped_arrays_other_loaders_and_arguments_stay_unknown() -> None:
    env = _constants("""
        import numpy as np
        from keras.datasets import boston_housing, mnist
        import mydata
        (x_train, _), (x_test, _) = mnist.load_data()
        x_train = np.reshape(x_train, (-1, 784))
        flat = x_train.shape[1]
        (a, _), (b, _) = mydata.mnist.load_data()
        mine = a.shape[1]
        (h, _), (ht, _) = boston_housing.load_data(test_split=0.1)
        features = h.shape[1]
    """)
    assert "flat" not in env and "mine" not in env and "features" not in env


PROGRAM = """
from keras import backend as K
from keras.datasets import mnist
from keras.layers import Conv2D, Conv2DTranspose, Dense, Flatten, Input, Reshape
from keras.models import Model
import numpy as np

(x_train, _), (x_test, _) = mnist.load_data()
side = x_train.shape[1]
x_train = np.reshape(x_train, [-1, side, side, 1]).astype('float32') / 255
input_shape = (side, side, 1)
widths = [4, 8]
code_size = 6

inp = Input(shape=input_shape)
h = inp
for n in widths:
    h = Conv2D(filters=n, kernel_size=3, strides=2, padding='same', activation='relu')(h)
dims = K.int_shape(h)
h = Flatten()(h)
encoder = Model(inp, Dense(code_size)(h))

code_in = Input(shape=(code_size,))
h = Dense(dims[1] * dims[2] * dims[3])(code_in)
h = Reshape((dims[1], dims[2], dims[3]))(h)
for n in widths[::-1]:
    h = Conv2DTranspose(n, 3, strides=2, padding='same', activation='relu')(h)
decoder = Model(code_in, Conv2DTranspose(1, 3, padding='same')(h))
"""


def test_a_decoder_sized_from_the_encoders_tensor_matches_keras(monkeypatch: Any) -> None:
    result = convert_source(PROGRAM, "ae.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "nn.Linear(code_size, 392)" in code and "7, 7, 8" in code, code
    # both sides without the download: two images of the loader's per-sample shape
    images = (np.zeros((2, 28, 28), "uint8"), np.zeros(2, "uint8"))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (images, images))
    loading = "(x_train, _), (x_test, _) = load_mnist()"
    assert loading in code
    code = code.replace(loading, "(x_train, _), (x_test, _) = (np.zeros((2, 28, 28)), 0), (0, 0)")
    keras.utils.set_random_seed(0)
    # Keras 2's K.int_shape (gone in Keras 3): the static shape as a tuple
    monkeypatch.setattr(keras.backend, "int_shape", lambda t: tuple(t.shape), raising=False)
    original = exec_source(PROGRAM, "k2l_original")
    converted = exec_source(code, "k2l_converted")
    for name in ("encoder", "decoder"):
        eq = compare(original[name], converted[name])
        assert eq.passed, f"{name}: {eq.message}\n{code}"
