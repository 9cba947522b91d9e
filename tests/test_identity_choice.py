"""A sub-layer chosen against an identity (``Pool(..) if stride > 1 else tf.identity``) and
Keras's "same" pooling with a window known only at run time (``KerasSamePool``)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap

import keras
import numpy as np
import pytest
import torch
from tf_reference import tf_json

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.rules.training.runtime.same_pooling import KerasSamePool
from agent.tf_shim import install

LAYER = """
import keras
import tensorflow as tf
from keras import layers


class Down(layers.Layer):
    def __init__(self, channel, stride, **kwargs):
        super().__init__(**kwargs)
        self.channel = channel
        self.stride = stride

    def build(self, input_shape):
        self.stride_layer = (
            layers.AveragePooling2D(pool_size=self.stride, strides=self.stride, padding="same")
            if self.stride > 1
            else {identity}
        )
        self.skip = {identity} if self.stride == 1 else layers.MaxPooling2D(self.stride,
                                                                           padding="same")
        self.proj = layers.Conv2D(self.channel, 1)

    def call(self, x):
        return self.proj(self.stride_layer(x)) + self.skip(x)[..., :1]


inputs = keras.Input((7, 7, 3))
x = Down(4, 2)(inputs)
x = Down(4, 1)(x)
x = Down(4, 3)(x)
outputs = layers.Dense(2)(layers.Flatten()(x))
model = keras.Model(inputs, outputs)
"""

IDENTITIES = ["tf.identity", "keras.activations.linear", "layers.Identity()", "(lambda t: t)"]


def _randomize(model: keras.Model) -> None:
    rng = np.random.default_rng(1)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))


@pytest.mark.parametrize("identity", IDENTITIES)
def test_layer_or_identity_is_an_if_in_init_and_numerically_keras(identity: str) -> None:
    src = textwrap.dedent(LAYER).replace("{identity}", identity)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "import keras" not in code and "tensorflow" not in code
    assert ("        if self.stride > 1:\n"
            '            self.stride_layer = KerasSamePool("avg", 2, kernel_size=self.stride, '
            "stride=self.stride)\n"
            "        else:\n"
            "            self.stride_layer = nn.Identity()\n") in code
    assert ("        if self.stride == 1:\n            self.skip = nn.Identity()\n"
            "        else:\n"
            '            self.skip = KerasSamePool("max", 2, kernel_size=self.stride)\n') in code
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    original = exec_source(src, "k2l_original")["model"]
    converted = exec_source(code, "k2l_converted")["model"]
    original(np.zeros((1, 7, 7, 3), dtype="float32"))
    _randomize(original)
    eq = compare(original, converted)
    assert eq.passed, f"{eq.message}\n{code}"


SHAPED = """
import keras
import tensorflow as tf
from keras import layers


class Involve(layers.Layer):
    def __init__(self, stride, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride

    def build(self, input_shape):
        (_, height, width, channels) = input_shape
        self.stride_layer = (
            layers.AveragePooling2D(pool_size=self.stride, strides=self.stride, padding="same")
            if self.stride > 1
            else tf.identity
        )
        self.mix = layers.Conv2D(channels, 1)

    def call(self, x):
        return self.mix(self.stride_layer(x)), x


inputs = keras.Input((7, 7, 3))
x, _ = Involve(2)(inputs)
x, _ = Involve(1)(x)
outputs = layers.Dense(2)(layers.Flatten()(x))
model = keras.Model(inputs, outputs)
"""


def test_a_choice_made_in_build_from_the_input_shape_is_numerically_keras() -> None:
    src = textwrap.dedent(SHAPED)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "import keras" not in result.source and "tensorflow" not in result.source
    assert "self.stride_layer = nn.Identity()" in result.source
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    original = exec_source(src, "k2l_original")["model"]
    converted = exec_source(result.source, "k2l_converted")["model"]
    original(np.zeros((1, 7, 7, 3), dtype="float32"))
    _randomize(original)
    eq = compare(original, converted)
    assert eq.passed, f"{eq.message}\n{result.source}"


def test_a_layer_with_more_than_a_module_call_is_not_chosen_against_an_identity() -> None:
    src = textwrap.dedent("""
        import keras
        import tensorflow as tf
        from keras import layers


        class Head(layers.Layer):
            def __init__(self, units, project, **kwargs):
                super().__init__(**kwargs)
                self.out = layers.Dense(units, activation="relu") if project else tf.identity

            def call(self, x):
                return self.out(x)
        """)
    result = convert_source(src, "model.py")
    reasons = [u.reason for u in result.unmapped]
    assert any("chosen against an identity must be one module" in r for r in reasons), reasons


CASES = [(7, 2, 2), (8, 3, 2), (5, 3, 1), (9, (2, 3), (3, 2)), (6, 4, None)]


def _pooled(kind: str, x: np.ndarray, pool: object, stride: object) -> np.ndarray:
    module = KerasSamePool(kind, 2, kernel_size=pool, stride=stride)
    return module(torch.as_tensor(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()


def _batch(size: int) -> np.ndarray:
    return np.random.default_rng(size).standard_normal((2, size, size + 1, 3)).astype("float32")


@pytest.mark.parametrize(("size", "pool", "stride"), CASES)
def test_same_max_pooling_matches_keras(size: int, pool: object, stride: object) -> None:
    x = _batch(size)
    layer = keras.layers.MaxPooling2D(pool_size=pool, strides=stride, padding="same")
    np.testing.assert_allclose(_pooled("max", x, pool, stride),
                               keras.ops.convert_to_numpy(layer(x)), rtol=1e-6)


def test_same_pooling_matches_tensorflow() -> None:
    """Against TF itself: Keras 3's torch backend counts the padding of an asymmetric "same"
    average (an 8-wide axis pooled by 3 with stride 2), TF and the scripts' Keras do not."""
    script = textwrap.dedent(f"""
        import json
        import numpy as np
        import tensorflow as tf
        out = []
        for size, pool, stride in {CASES!r}:
            x = np.random.default_rng(size).standard_normal((2, size, size + 1, 3))
            for cls in (tf.keras.layers.AveragePooling2D, tf.keras.layers.MaxPooling2D):
                layer = cls(pool_size=pool, strides=stride, padding="same")
                out.append(layer(x.astype("float32")).numpy().tolist())
        print(json.dumps(out))
        """)
    expected = iter(tf_json(script))
    for size, pool, stride in CASES:
        for kind in ("avg", "max"):
            np.testing.assert_allclose(_pooled(kind, _batch(size), pool, stride),
                                       np.asarray(next(expected)), rtol=1e-5, atol=1e-6)
