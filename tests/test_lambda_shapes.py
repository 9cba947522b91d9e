"""Lambda bodies of ops and arithmetic give the layers after them a shape
(agent/rules/models/expr_shapes.py): a Concatenate after ``Lambda(lambda t: t / norm)`` and
``Lambda(lambda t: reduce_mean(t, keepdims=True))`` converts, sized as Keras sizes it."""

from __future__ import annotations

import os
from typing import Any

import libcst as cst
import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.models.expr_shapes import lambda_rule
from agent.weights import port_weights

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

SOURCE = """\
import keras
from keras import layers, ops


def build(width=6):
    inputs = keras.Input(shape=(9,))
    h = layers.Dense(width, activation="tanh")(inputs)
    unit = layers.Lambda(lambda t: t / (ops.norm(t, axis=-1, keepdims=True) + 1e-6))(h)
    spread = layers.Lambda(lambda t: 2.0 * ops.max(t, axis=-1, keepdims=True) - 1.0)(unit)
    joined = layers.Concatenate()([unit, spread, h])
    return keras.Model(inputs, layers.Dense(2)(joined))


model = build()
"""


def test_concatenate_after_lambdas_converts_and_matches_keras() -> None:
    keras.backend.clear_session()
    keras.utils.set_random_seed(4)
    theirs: dict[str, Any] = {}
    exec(compile(SOURCE, "<keras>", "exec"), theirs)
    res = convert_source(SOURCE)
    assert "TODO(k2l)" not in res.source and res.keras_deps == [], res.source
    assert "nn.Linear(width + 1 + width, 2)" in res.source, res.source
    ours: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), ours)
    port_weights(theirs["model"], ours["model"])
    x = np.random.default_rng(0).normal(size=(5, 9)).astype("float32")
    expected = keras.ops.convert_to_numpy(theirs["model"](x))
    with torch.no_grad():
        got = ours["model"](torch.as_tensor(x)).numpy()
    assert np.abs(got - expected).max() < 1e-5


def _rule(body: str) -> Any:
    module = cst.parse_module(f"f = lambda t: {body}\n")
    lam = cst.ensure_type(cst.ensure_type(cst.ensure_type(
        module.body[0], cst.SimpleStatementLine).body[0], cst.Assign).value, cst.Lambda)

    def qual(node: cst.BaseExpression) -> str | None:
        code = cst.Module([]).code_for_node(node)
        return "keras.ops." + code[4:] if code.startswith("ops.") else None

    return lambda_rule(lam.body, "t", qual, {})


def test_lambda_rule_shapes_and_refusals() -> None:
    assert _rule("ops.mean(t, axis=-1, keepdims=True) * 3")([(4, 7)]) == (4, 1)
    assert _rule("t - ops.mean(t, axis=1, keepdims=True)")([(4, 7)]) == (4, 7)
    assert _rule("ops.sum(t, axis=-1)")([(4, 7)]) == (4,)
    # ranks that differ: the batch axis would meet another axis, so no shape is claimed
    assert _rule("t + ops.sum(t, axis=-1)")([(4, 7)]) is None
    assert _rule("my_helper(t)") is None  # an unknown function: no rule at all
    assert _rule("t[:, 0]") is None
