"""tf.cond / keras.ops.cond rows (agent/rules/ops/control.py): the converted conditional
against Keras 3's own ``keras.ops.cond`` on the torch backend, and only the chosen branch runs."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import libcst as cst
import numpy as np
import pytest
import torch

from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr

IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\nimport keras\n"))


def _convert(code: str) -> str:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    assert problems == []
    out = cst.Module([]).code_for_node(node)
    assert "tf." not in out and "keras" not in out
    return out


@pytest.mark.parametrize("step", [0.0, 3.0, 10.0, 25.0])
def test_cond_matches_keras(step: float) -> None:
    import keras

    s, w, peak = torch.tensor(step), torch.tensor(10.0), 1e-3
    expected = keras.ops.convert_to_numpy(
        keras.ops.cond(s < w, lambda: peak * s / w, lambda: peak * keras.ops.ones(())))
    for spelling in ("tf.cond", "keras.ops.cond"):
        code = _convert(f"{spelling}(s < w, lambda: peak * s / w, lambda: peak * tf.ones(()))")
        got = eval(code, {"torch": torch, "s": s, "w": w, "peak": peak})  # noqa: S307
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


def test_named_branches_are_called_and_only_the_chosen_one_runs() -> None:
    code = _convert("tf.cond(flag, true_fn=left, false_fn=right)")
    assert code == "(left() if flag else right())"
    calls: list[str] = []

    def left() -> int:
        calls.append("left")
        return 1

    def right() -> int:
        calls.append("right")
        return 2

    assert eval(code, {"flag": torch.tensor(False), "left": left, "right": right}) == 2  # noqa: S307
    assert calls == ["right"]


def test_lambda_with_parameters_is_called_not_inlined() -> None:
    assert _convert("tf.cond(p, lambda x=1: x, lambda: 2)") == "((lambda x=1: x)() if p else 2)"
