"""A configurable custom layer as Keras 3 code registers it: the registry decorator goes
(torch never looks a module up in Keras's registry) and ``get_config`` keeps reporting the
activation by its Keras name; the converted script imports no Keras."""

from __future__ import annotations

import os
from typing import Any

import pytest

from agent.rules.convert import convert_source

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

SOURCE = """\
import keras


@keras.saving.register_keras_serializable(package="mine")
class Gate(keras.layers.Layer):
    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.proj = keras.layers.Dense(units)

    def call(self, x):
        return self.activation(self.proj(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}
"""


def test_registered_layer_converts_and_reports_its_config() -> None:
    scope: dict[str, Any] = {}
    exec(compile(SOURCE, "<keras>", "exec"), scope)
    keras_config = scope["Gate"](3, activation="swish").get_config()
    res = convert_source(SOURCE)
    assert res.keras_deps == [] and "register_keras_serializable" not in res.source, res.source
    ours: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ours)
    config = ours["Gate"](3, activation="swish").get_config()
    assert config == {"units": 3, "activation": keras_config["activation"]} == {
        "units": 3, "activation": "silu"}
