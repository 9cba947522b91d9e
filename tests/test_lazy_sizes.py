"""Sizes the rules cannot know statically: lazy forms (LazyLayerNorm) and symbolic arguments.

Each case is a small program of our own in the shape real Keras code takes (a transformer
block whose LayerNormalization never sees an input shape, a conv block whose kernel size is a
constructor parameter); the converted program must compute what Keras computes, with Keras's
weights ported across.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from typing import Any

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import compare, exec_source
from agent.rules.convert import Conversion, convert_source
from agent.rules.training.runtime.lazy_modules import LazyLayerNorm
from agent.tf_shim import install

KERAS = "import keras\nfrom keras import layers\n\n"


def convert(src: str) -> Conversion:
    return convert_source(textwrap.dedent(src), "model.py")


def randomize(model: Any) -> None:
    """Non-default weights everywhere, so a port that drops one (a LayerNorm's beta) shows."""
    rng = np.random.default_rng(1)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))


def equivalent(src: str, builder: str = "model") -> str:
    """Convert, build both sides (Keras weights randomized), compare; the converted code."""
    src = textwrap.dedent(src)
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = exec_source(src, "k2l_original")[builder]
    module = exec_source(result.source, "k2l_converted")[builder]
    keras_model(np.zeros((1, *keras_model.input_shape[1:]), dtype="float32"))
    randomize(keras_model)
    eq = compare(keras_model, module)
    assert eq.passed, f"{eq.message}\n{result.source}"
    return result.source


# ------------------------------------------------------------------------- LazyLayerNorm

@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"elementwise_affine": False}])
def test_lazy_layer_norm_becomes_the_layer_norm_torch_would_build(kwargs: dict[str, bool]
                                                                   ) -> None:
    x = torch.randn(2, 3, 7)
    lazy = LazyLayerNorm(eps=1e-3, **kwargs)
    got = lazy(x)
    ref = torch.nn.LayerNorm(7, eps=1e-3, **kwargs)
    assert type(lazy) is torch.nn.LayerNorm  # cls_to_become: ports and state_dicts as usual
    assert lazy.normalized_shape == (7,)
    assert {k: v.shape for k, v in lazy.state_dict().items()} == \
        {k: v.shape for k, v in ref.state_dict().items()}
    torch.testing.assert_close(got, ref(x))


BLOCK = KERAS + """
class Block(layers.Layer):
    def __init__(self, units, rate=0.1):
        super().__init__()
        self.dense = layers.Dense(units, activation="relu")
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(center=False)
        self.norm3 = layers.LayerNormalization(center=False, scale=False)
        self.drop = layers.Dropout(rate)

    def call(self, inputs, training=False):
        x = self.drop(self.dense(inputs), training=training)
        return self.norm3(self.norm2(self.norm1(inputs + x)))


inputs = keras.Input(shape=(5, 8))
outputs = layers.Dense(3)(Block(8)(inputs))
model = keras.Model(inputs, outputs)
"""


def test_layer_norm_without_input_size_gets_a_lazy_form() -> None:
    result = convert(BLOCK)
    code = result.source
    assert "self.norm1 = LazyLayerNorm(eps=1e-6)" in code
    assert "self.norm2 = LazyLayerNorm(eps=1e-3, bias=False)" in code  # Keras eps written out
    assert "self.norm3 = LazyLayerNorm(eps=1e-3, elementwise_affine=False)" in code
    assert code.count("class LazyLayerNorm(") == 1  # copied once, however many uses
    assert code.index("class LazyLayerNorm(") < code.index("class Block(")
    assert not [u for u in result.unmapped if "LayerNormalization" in u.reason]


def test_layer_norm_lazy_form_is_numerically_keras() -> None:
    equivalent(BLOCK)
