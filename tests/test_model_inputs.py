"""A functional model's inputs are checked to be ``Input`` tensors (issue 9): a name rebound
along a chain of layers (``x = Dense(4)(x); Model(x, x)``) and an intermediate tensor as input
are left as written with one report line, each checked against what Keras 3 does."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras
import numpy as np
import pytest

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from tests.test_models_graphs import KERAS, check

pytestmark = pytest.mark.slow

REBOUND = KERAS + """

def build():
    x = keras.Input(shape=(3,))
    x = layers.Dense(4)(x)
    model = keras.Model(x, x)
    return model
"""

SUBGRAPH = KERAS + """

def build():
    inp = keras.Input(shape=(3,))
    h = layers.Dense(5)(inp)
    y = layers.Dense(2)(h)
    return keras.Model(inputs=[inp, h], outputs=y)
"""


def _left_as_written(src: str, line: int) -> str:
    result = convert_source(src, "model.py")
    assert [u.line for u in result.unmapped] == [line], result.unmapped
    assert "left as written" in result.unmapped[0].reason
    assert "not an Input tensor" in result.unmapped[0].reason
    assert "LightningModule" not in result.source, result.source
    assert "keras.Model(" in result.source  # the user's model, untouched
    return result.unmapped[0].reason


def test_a_rebound_name_as_input_and_output_is_reported_as_keras_refuses_it() -> None:
    keras.backend.clear_session()
    with pytest.raises(ValueError, match="not connected"):
        exec_source(REBOUND, "k2l_original")["build"]()
    reason = _left_as_written(REBOUND, 9)
    assert "Keras cannot build this model" in reason


def test_an_intermediate_input_is_a_sub_model_in_keras_and_left_as_written() -> None:
    keras.backend.clear_session()
    model = exec_source(SUBGRAPH, "k2l_original")["build"]()
    # Keras 3 takes the hidden tensor as a second input: the output ignores `inp`
    a = np.ones((2, 3), "float32")
    h = np.zeros((2, 5), "float32")
    out = keras.ops.convert_to_numpy(model([a, h]))
    bias = keras.ops.convert_to_numpy(model.layers[-1].bias)
    np.testing.assert_allclose(out, np.broadcast_to(bias, (2, 2)), atol=1e-6)
    _left_as_written(SUBGRAPH, 10)


def test_an_input_that_is_also_the_output_still_converts() -> None:
    code = check(KERAS + """

def build():
    x = keras.Input(shape=(3,))
    return keras.Model(x, x)
""", "build()")
    assert "return x" in code, code
