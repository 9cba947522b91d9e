"""Argument forms of existing op rows: ``tf.pad`` paddings written with expressions,
``tf.one_hot(axis=k)``; text and numbers against Keras 3's own ops."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import libcst as cst
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr

IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\nimport keras\n"))
X = np.random.default_rng(5).normal(size=(2, 3, 4)).astype("float32")
LABELS = np.array([[0, 3, 1], [2, 2, 0]])


def conv(code: str) -> tuple[str, list[str]]:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    return cst.Module([]).code_for_node(node), problems


@pytest.mark.parametrize(("before", "after"), [
    ("tf.pad(t, [[0, LIMIT - t.shape[0]]])", "F.pad(t, (0, LIMIT - t.shape[0]))"),
    ("tf.pad(x, [[0, 0], [1, n - tf.shape(x)[1]]], constant_values=-1)",
     "F.pad(x, (1, n - x.shape[1]), value=-1)"),
    ("tf.one_hot(i, 4, axis=1)", "torch.movedim(F.one_hot(i.long(), 4).to(torch.float32), -1, 1)"),
])
def test_before_after(before: str, after: str) -> None:
    assert conv(before) == (after, [])


@pytest.mark.parametrize("code", ["tf.pad(x, pads)", "tf.one_hot(i, 4, axis=k)",
                                  "tf.pad(x, [[0, 0], [1, 1]], mode='SYMMETRIC')"])
def test_reported(code: str) -> None:
    after, problems = conv(code)
    assert after == code and len(problems) == 1


def _run(code: str, **names: object) -> np.ndarray:
    torch_code, problems = conv(code)
    assert problems == []
    return np.asarray(eval(torch_code, {"torch": torch, "F": F, **names}))  # noqa: S307


def test_pad_with_expressions_matches_keras() -> None:
    import keras

    got = _run("tf.pad(x, [[0, 0], [width - 3, 1], [0, tf.shape(x)[2] - 2]], "
               "constant_values=0.5)", x=torch.as_tensor(X), width=5)
    want = keras.ops.pad(X, [[0, 0], [2, 1], [0, 2]], constant_values=0.5)
    np.testing.assert_array_equal(got, keras.ops.convert_to_numpy(want))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_one_hot_axis_matches_keras(axis: int) -> None:
    import keras

    got = _run(f"tf.one_hot(labels, 4, axis={axis})", labels=torch.as_tensor(LABELS))
    want = keras.ops.convert_to_numpy(keras.ops.one_hot(LABELS, 4, axis=axis))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_op_passed_as_value_becomes_a_lambda_over_tf_names() -> None:
    """An op whose TF parameters are all required, used as a value (a dict of aggregations,
    an argument), is a lambda over TF's parameter names: positional and keyword calls work."""
    code, problems = conv('{"sum": tf.math.unsorted_segment_sum, '
                          '"mean": tf.math.unsorted_segment_mean}.get(kind)')
    assert problems == [] and code.count("lambda data, segment_ids, num_segments:") == 2
    data = np.arange(12, dtype="float32").reshape(4, 3)
    ids = torch.tensor([1, 0, 1, 1])
    for kind, want in (("sum", [data[1], data[0] + data[2] + data[3]]),
                       ("mean", [data[1], (data[0] + data[2] + data[3]) / 3])):
        fn = eval(code, {"torch": torch, "kind": kind})  # noqa: S307
        np.testing.assert_allclose(fn(torch.as_tensor(data), ids, 2).numpy(), want)
        np.testing.assert_allclose(
            fn(torch.as_tensor(data), segment_ids=ids, num_segments=2).numpy(), want)


def test_op_value_with_optional_parameters_stays_reported() -> None:
    code, problems = conv("fn(tf.reduce_sum)")  # axis/keepdims: no lambda takes every call
    assert code == "fn(tf.reduce_sum)" and problems == ["tensorflow.reduce_sum has no torch mapping"]


@pytest.mark.parametrize(("value", "call", "reference"), [
    ("tf.nn.leaky_relu", "fn(x)", lambda k, x: k.activations.leaky_relu(x, 0.2)),
    ("tf.nn.leaky_relu", "fn(x, alpha=0.05)", lambda k, x: k.activations.leaky_relu(x, 0.05)),
    ("keras.activations.softmax", "fn(x)", lambda k, x: k.activations.softmax(x, axis=-1)),
    ("tf.nn.softmax", "fn(x, axis=1)", lambda k, x: k.ops.softmax(x, axis=1)),
    ("keras.activations.gelu", "fn(x)", lambda k, x: k.activations.gelu(x, approximate=False)),
    ("keras.ops.gelu", "fn(x)", lambda k, x: k.ops.gelu(x, approximate=True)),
    ("tf.nn.gelu", "fn(x, approximate=True)", lambda k, x: k.ops.gelu(x, approximate=True)),
])
def test_function_values_keep_tf_defaults(value: str, call: str, reference) -> None:  # type: ignore[no-untyped-def]
    """A bare torch callable would use torch's defaults (leaky_relu 0.01, softmax's implicit
    dim): the value keeps TF's signature and defaults."""
    import keras

    code, problems = conv(value)
    assert problems == []
    fn = eval(code, {"torch": torch, "F": F})  # noqa: S307
    got = eval(call, {"fn": fn, "x": torch.as_tensor(X)})  # noqa: S307
    want = keras.ops.convert_to_numpy(reference(keras, X))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_every_value_form_names_an_op_and_parses() -> None:
    from agent.rules.ops.as_values import VALUES
    from agent.rules.ops.table import OPS

    for name, value in VALUES.items():
        assert OPS[name].value == value
        assert isinstance(cst.parse_expression(value), cst.Lambda)


@pytest.mark.parametrize("indices", ["[2, 0, 3]", "(1, 1)", "3"])
def test_one_hot_of_python_indices_matches_keras(indices: str) -> None:
    """TF takes a list, tuple or number as indices; ``F.one_hot`` needs a tensor (a list's
    ``.long()`` crashed)."""
    import keras

    got = _run(f"tf.one_hot({indices}, 4)")
    want = keras.ops.convert_to_numpy(keras.ops.one_hot(np.asarray(eval(indices)), 4))  # noqa: S307
    np.testing.assert_array_equal(got, want)


def test_one_hot_of_a_tensor_is_not_wrapped() -> None:
    assert conv("tf.one_hot(labels, 4)")[0] == "F.one_hot(labels.long(), 4).to(torch.float32)"
