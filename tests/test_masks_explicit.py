"""A mask given explicitly from a model input (``GRU(8)(x, mask=keep)``, a bool ``Input``):
the converted model takes it as forward's parameter, runs the recurrent layer under it and
carries it through ``return_sequences`` as Keras does; compared with Keras 3 (torch backend),
weights ported, on pre-padded, post-padded and holed masks. Our own programs."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install
from agent.weights import port_weights
from tests.test_masks import STEPS, _features, _ids

SRC = f"""
import keras
from keras import layers

frames = keras.Input(({STEPS}, 3))
keep = keras.Input(({STEPS},), dtype="bool")
x = layers.GRU(6, return_sequences=True)(frames, mask=keep)
x = {{second}}
x = layers.Dropout(0.2)(x)
out = layers.Dense(2)(x)
model = keras.Model([frames, keep], out)
"""
SECOND = {"gru_last": "layers.LSTM(4)(x)",
          "pooled": "layers.GlobalAveragePooling1D()(x)"}


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
@pytest.mark.parametrize("second", sorted(SECOND))
def test_explicit_mask_input_is_numerically_keras(second: str, padding: str) -> None:
    src = textwrap.dedent(SRC.format(second=SECOND[second]))
    result = convert_source(src, "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert not [w.message for w in result.warnings if "mask" in w.message.lower()]
    assert "mask=keep" in result.source and "keras" not in result.source.split("class")[-1]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = exec_source(src, "k2l_original")["model"]
    module = exec_source(result.source, "k2l_converted")["model"]
    x, keep = _features(padding), _ids(padding) != 0
    rng = np.random.default_rng(1)
    keras_model([x, keep], training=False)
    for w in keras_model.weights:  # non-default weights everywhere
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))
    ref = keras.ops.convert_to_numpy(keras_model([x, keep], training=False))
    port_weights(keras_model, module)
    module.eval()
    with torch.no_grad():
        got = module(torch.as_tensor(x), torch.as_tensor(keep)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4, err_msg=result.source)


def test_a_mask_that_is_not_a_model_input_stays_reported() -> None:
    src = textwrap.dedent(f"""
        import keras
        from keras import layers

        frames = keras.Input(({STEPS}, 3))
        x = layers.GRU(4)(frames, mask=frames[:, :, 0] > 0)
        model = keras.Model(frames, layers.Dense(2)(x))
        """)
    result = convert_source(src, "model.py")
    assert any("mask" in u.reason for u in result.unmapped)
