"""``model.predict({name: array, ...})`` on a multi-input model: Keras feeds each array to the
Input of that ``name=``, whatever the dict's order; the converted loader lists them in
forward's order (numerically Keras's prediction, weights ported). Keys that name no Input
stay as written, reported."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

import keras
import numpy as np

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install
from agent.weights import port_weights

SRC = textwrap.dedent("""
    import numpy as np
    import keras
    from keras import layers

    left = keras.Input((3,), name="left_in")
    right = keras.Input((2,), name="right_in")
    merged = layers.Concatenate()([left, right])
    out = layers.Dense(1)(merged)
    model = keras.Model([left, right], out)
    model.compile(optimizer="adam", loss="mse")
    RIGHT = np.arange(8, dtype="float32").reshape(4, 2)
    LEFT = np.linspace(-1.0, 1.0, 12, dtype="float32").reshape(4, 3)
    preds = model.predict({"right_in": RIGHT, "left_in": LEFT})
    """)


def test_dict_inputs_go_to_the_inputs_of_their_names() -> None:
    result = convert_source(SRC, "two.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    original = exec_source(SRC, "k2l_original")
    converted = exec_source(result.source, "k2l_converted")
    port_weights(original["model"], converted["model"])
    got = np.concatenate(converted["trainer"].predict(converted["model"],
                                                      converted["predict_loader"]))
    np.testing.assert_allclose(got, original["preds"], rtol=1e-5, atol=1e-5)


def test_keys_naming_no_input_stay_reported() -> None:
    src = SRC.replace('"right_in": RIGHT', '"other": RIGHT')
    result = convert_source(src, "two.py")
    assert any("predict() on a dict" in u.reason for u in result.unmapped)
    assert 'model.predict({"other": RIGHT' in result.source
