"""A user Regularizer class converted to torch computes on its weight's device
(agent/rules/training/regularizer_devices.py): tensors made in ``__init__`` or ``__call__``
(``ops.eye``) follow the weight. The "meta" device stands in for a GPU: torch refuses to mix
it with CPU tensors exactly as it refuses cuda + cpu."""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

from agent.rules.convert import convert_source

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

SOURCE = """\
import keras
from keras import layers, ops


class Ortho(keras.regularizers.Regularizer):
    def __init__(self, size, weight=0.01):
        self.size = size
        self.weight = weight
        self.identity = ops.eye(size)

    def __call__(self, x):
        x = ops.reshape(x, (-1, self.size, self.size))
        gram = ops.matmul(x, ops.transpose(x, (0, 2, 1)))
        spread = ops.sum(ops.square(gram - ops.eye(self.size)))
        return self.weight * (ops.sum(ops.square(gram - self.identity)) + spread)


def build():
    inputs = keras.Input(shape=(5,))
    outputs = layers.Dense(4, kernel_regularizer=Ortho(2))(inputs)
    return keras.Model(inputs, outputs)


model = build()
"""


def test_regularizer_follows_the_weights_device() -> None:
    res = convert_source(SOURCE)
    assert "class Ortho:" in res.source and "ops." not in res.source, res.source
    assert "self.identity.to(x.device)" in res.source
    assert "torch.eye(self.size, device=x.device)" in res.source
    scope: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), scope)
    reg = scope["Ortho"](2)
    on_cpu = reg(torch.ones(5, 4))
    assert on_cpu.device.type == "cpu" and float(on_cpu) > 0
    on_meta = reg(torch.ones(5, 4, device="meta"))  # raised before: eye stayed on the CPU
    assert on_meta.device.type == "meta"
