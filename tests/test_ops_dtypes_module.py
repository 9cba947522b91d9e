"""``tf.dtypes.<name>`` is the same object as ``tf.<name>``: both become the torch dtype, as a
value and as a ``tf.cast`` argument; the result's dtype is the one Keras's cast gives."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import libcst as cst
import numpy as np
import pytest
import torch

from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr

IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\n"))


def _convert(code: str) -> str:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    assert problems == []
    return cst.Module([]).code_for_node(node)


@pytest.mark.parametrize("name", ["float16", "float32", "float64", "int32", "int64", "uint8",
                                  "bool"])
def test_dtypes_module_names_cast_as_keras_does(name: str) -> None:
    import keras

    assert _convert(f"tf.dtypes.{name}") == _convert(f"tf.{name}") == f"torch.{name}"
    x = np.array([0.0, 1.5, -2.0, 3.0], dtype="float32")
    code = _convert(f"tf.cast(x, tf.dtypes.{name})")
    got = eval(code, {"torch": torch, "x": torch.as_tensor(x)})  # noqa: S307
    expected = keras.ops.cast(x, name)
    assert str(got.dtype) == f"torch.{name}" == str(expected.dtype)
    np.testing.assert_array_equal(got.numpy(), keras.ops.convert_to_numpy(expected))


def test_string_dtype_stays_reported() -> None:
    _, problems = convert_expr(cst.parse_expression("tf.cast(x, tf.dtypes.string)"), IMPORTS, {})
    assert problems
