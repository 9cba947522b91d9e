"""Shape queries, creation, random draws, restructuring, tf.nn losses and tf.image ops:
before/after text, and numbers against Keras 3's own ops (or the op's definition where
Keras has no counterpart)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from collections.abc import Callable
from typing import Any

import libcst as cst
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr
from agent.rules.training.runtime import image_ops

HEADER = ("import tensorflow as tf\nimport keras\nfrom keras import ops\n"
          "import keras.backend as K\n")
IMPORTS = collect_imports(cst.parse_module(HEADER))


def conv(code: str) -> tuple[str, list[str]]:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    return cst.Module([]).code_for_node(node), problems


CASES = [
    ("tf.shape(x)[0]", "x.shape[0]"),
    ("K.shape(x)[1]", "x.shape[1]"),
    ("K.int_shape(x)", "tuple(x.shape)"),
    ("keras.ops.shape(x)", "tuple(x.shape)"),
    ("K.ndim(x)", "x.dim()"),
    ("tf.cast(tf.shape(x)[1], tf.float32)", "torch.as_tensor(x.shape[1], dtype=torch.float32)"),
    ("tf.range(4)", "torch.arange(4, dtype=torch.int32)"),  # TF: int literals give int32
    ("tf.range(start=1, limit=9, delta=2)", "torch.arange(1, 9, 2, dtype=torch.int32)"),
    ("tf.range(tf.shape(x)[1])", "torch.arange(x.shape[1], device=x.device)"),
    ("tf.ones([2, 3])", "torch.ones((2, 3))"),
    ("tf.zeros((tf.shape(x)[0], 4), dtype=tf.int64)",
     "torch.zeros((x.shape[0], 4), dtype=torch.int64, device=x.device)"),
    ("tf.constant([[1.0, 2.0]])", "torch.as_tensor([[1.0, 2.0]])"),
    ("tf.convert_to_tensor(v, dtype=tf.float32)", "torch.as_tensor(v, dtype=torch.float32)"),
    ("tf.random.normal((2, 3), stddev=0.5)", "torch.randn((2, 3)) * 0.5"),
    ("K.random_normal(shape=(K.shape(z)[0], 8))",
     "torch.randn((z.shape[0], 8), device=z.device)"),
    ("tf.random.uniform((3,), minval=-1.0, maxval=1.0)",
     "torch.empty((3,)).uniform_(-1.0, 1.0)"),
    ("tf.math.not_equal(x, 0)", "torch.ne(x, 0)"),
    ("tf.logical_and(a, b)", "torch.logical_and(a, b)"),
    ("tf.pad(x, [[0, 0], [1, 2]])", "F.pad(x, (1, 2))"),
    ("tf.linalg.band_part(m, 0, -1)", "torch.triu(m, diagonal=0)"),
    ("tf.image.flip_up_down(x)", "torch.flip(x, dims=(-3,))"),
    ("tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)",
     "-F.log_softmax(z, dim=-1).gather(-1, y.long().unsqueeze(-1)).squeeze(-1)"),
]


@pytest.mark.parametrize(("before", "after"), CASES)
def test_before_after(before: str, after: str) -> None:
    assert conv(before) == (after, [])


@pytest.mark.parametrize("code", [
    "tf.pad(x, p)",  # paddings unknown: F.pad's order cannot be computed
    'tf.pad(x, [[1, 1]], mode="REFLECT")',
    "tf.image.resize(x, (4, 4), method='area')",
    "tf.image.resize(x, (4, 4), method='lanczos3')",
    "tf.linalg.band_part(m, k, 0)",
    "tf.constant(0.0, shape=(2, 2))",
])
def test_what_cannot_convert_is_reported_and_kept(code: str) -> None:
    out, problems = conv(code)
    assert out == code and problems


# ---------------------------------------------------------------------------- numbers
RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 6, 5, 3)).astype("float32")
S = RNG.standard_normal((4, 5)).astype("float32")
LABELS = RNG.integers(0, 5, size=(4,)).astype("int64")
PROBS = np.eye(5, dtype="float32")[LABELS]
BIN = (RNG.random((4, 5)) > 0.5).astype("float32")
IDS = np.array([0, 2, 0, 1], dtype="int64")


def _k() -> Any:
    import keras

    return keras


NUMERIC: list[tuple[str, Callable[[Any], Any]]] = [
    ("tf.cast(tf.shape(x)[1], tf.float32) * x", lambda k: 6.0 * X),
    ("tf.reshape(x, (tf.shape(x)[0], -1))", lambda k: k.ops.reshape(X, (2, -1))),
    ("tf.range(1, 10, 3)", lambda k: k.ops.arange(1, 10, 3)),
    ("keras.ops.arange(5)", lambda k: k.ops.arange(5)),
    ("tf.ones((2, 3)) + tf.zeros((2, 3))", lambda k: k.ops.ones((2, 3))),
    ("tf.fill([2, 2], 3.0)", lambda k: k.ops.full((2, 2), 3.0)),
    ("tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]], constant_values=0.5)",
     lambda k: k.ops.pad(X, [[0, 0], [1, 2], [0, 1], [0, 0]], constant_values=0.5)),
    ("keras.ops.pad(s, [[2, 0], [0, 1]])", lambda k: k.ops.pad(S, [[2, 0], [0, 1]])),
    ("tf.repeat(s, 2, axis=1)", lambda k: k.ops.repeat(S, 2, axis=1)),
    ("tf.repeat(s, 3)", lambda k: k.ops.repeat(S, 3)),
    ("tf.tensordot(s, s, axes=[[1], [1]])", lambda k: k.ops.tensordot(S, S, axes=[[1], [1]])),
    ("tf.broadcast_to(s[:1], [3, 5])", lambda k: k.ops.broadcast_to(S[:1], (3, 5))),
    ("tf.reverse(x, axis=[1, 2])", lambda k: k.ops.flip(X, axis=(1, 2))),
    ("keras.ops.flip(s)", lambda k: k.ops.flip(S)),
    ("tf.sort(s, direction='DESCENDING')", lambda k: -k.ops.sort(-S)),
    ("tf.argsort(s, axis=0)", lambda k: k.ops.argsort(S, axis=0)),
    ("tf.math.top_k(s, k=2).values", lambda k: k.ops.top_k(S, 2)[0]),
    ("tf.linalg.band_part(tf.ones((4, 4)), -1, 0)", lambda k: k.ops.tril(k.ops.ones((4, 4)))),
    ("tf.linalg.band_part(s, 1, 1)",
     lambda k: k.ops.triu(k.ops.tril(S, 1), -1)),
    ("keras.ops.triu(s, 1)", lambda k: k.ops.triu(S, 1)),
    ("tf.math.unsorted_segment_sum(s, ids, 3)",
     lambda k: k.ops.segment_sum(S, IDS, num_segments=3)),
    ("tf.math.count_nonzero(tf.cast(s > 0, tf.int32), axis=1)",
     lambda k: k.ops.count_nonzero(S > 0, axis=1)),
    ("tf.nn.moments(s, axes=[0])[1]", lambda k: k.ops.var(S, axis=0)),
    ("tf.nn.moments(x, axes=[0, 1, 2], keepdims=True)[0]",
     lambda k: k.ops.mean(X, axis=(0, 1, 2), keepdims=True)),
    ("tf.math.reduce_std(s, axis=-1)", lambda k: k.ops.std(S, axis=-1)),
    ("keras.ops.var(s, axis=0, keepdims=True)", lambda k: k.ops.var(S, axis=0, keepdims=True)),
    ("tf.cast(tf.math.greater_equal(s, 0.0), tf.float32)",
     lambda k: k.ops.cast(k.ops.greater_equal(S, 0.0), "float32")),
    ("tf.cast(tf.logical_or(s > 1, s < -1), tf.float32)",
     lambda k: k.ops.cast(k.ops.logical_or(S > 1, S < -1), "float32")),
    ("tf.math.squared_difference(s, 1.0)", lambda k: k.ops.square(S - 1.0)),
    ("tf.math.divide_no_nan(s, tf.cast(ids, tf.float32)[:, None])",
     lambda k: k.ops.divide_no_nan(S, k.ops.cast(IDS, "float32")[:, None])),
    ("tf.nn.sigmoid_cross_entropy_with_logits(labels=b, logits=s)",
     lambda k: k.ops.binary_crossentropy(BIN, S, from_logits=True)),
    ("tf.nn.softmax_cross_entropy_with_logits(labels=p, logits=s)",
     lambda k: k.ops.categorical_crossentropy(PROBS, S, from_logits=True)),
    ("tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=s)",
     lambda k: k.ops.sparse_categorical_crossentropy(LABELS, S, from_logits=True)),
    ("tf.nn.l2_loss(s)", lambda k: k.ops.sum(S * S) / 2),
    ("tf.nn.bias_add(s, s[0])", lambda k: S + S[0]),
    ("tf.nn.embedding_lookup(s, ids)", lambda k: k.ops.take(S, IDS, axis=0)),
    ("tf.image.flip_left_right(x)", lambda k: X[:, :, ::-1]),
    ("tf.image.flip_up_down(x[0])", lambda k: X[0, ::-1]),
    ("tf.image.crop_to_bounding_box(x, 1, 2, 3, 2)", lambda k: X[:, 1:4, 2:4]),
    ("tf.image.rgb_to_grayscale(x)", lambda k: (X @ np.array([0.2989, 0.5870, 0.1140],
                                                             "float32"))[..., None]),
    ("tf.image.resize(x, (9, 7))", lambda k: k.ops.image.resize(X, (9, 7))),
    ("tf.image.resize(x, [3, 10], method='bilinear')",
     lambda k: k.ops.image.resize(X, (3, 10), interpolation="bilinear")),
    ("keras.ops.image.resize(x, (12, 10), interpolation='nearest')",
     lambda k: k.ops.image.resize(X, (12, 10), interpolation="nearest")),
]


@pytest.mark.parametrize(("code", "reference"), NUMERIC, ids=[c for c, _ in NUMERIC])
def test_numerical(code: str, reference: Callable[[Any], Any]) -> None:
    keras = _k()
    torch_code, problems = conv(code)
    assert problems == []
    ns = {**vars(image_ops),  # the functions the tf.image rows call (copied into scripts)
          "torch": torch, "F": F, "nn": nn, "x": torch.as_tensor(X), "s": torch.as_tensor(S),
          "y": torch.as_tensor(LABELS), "p": torch.as_tensor(PROBS), "b": torch.as_tensor(BIN),
          "ids": torch.as_tensor(IDS)}
    got = eval(torch_code, ns)  # noqa: S307 - our own generated code
    want = np.asarray(keras.ops.convert_to_numpy(reference(keras)))
    got = got.numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------- random
RANDOM = [
    # (TF code, Keras/TF reference sampler, bounds or None)
    ("tf.random.normal((200, 100), mean=1.0, stddev=2.0)",
     lambda k: k.random.normal((200, 100), mean=1.0, stddev=2.0), None),
    ("tf.random.uniform((200, 100), minval=-3.0, maxval=1.0)",
     lambda k: k.random.uniform((200, 100), minval=-3.0, maxval=1.0), (-3.0, 1.0)),
    ("tf.random.uniform((200, 100))", lambda k: k.random.uniform((200, 100)), (0.0, 1.0)),
    ("tf.random.truncated_normal((200, 100), stddev=0.5)",
     lambda k: k.random.truncated_normal((200, 100), stddev=0.5), (-1.0, 1.0)),
    ("K.random_normal(shape=(tf.shape(x)[0] * 100, 100))",
     lambda k: k.random.normal((200, 100)), None),
]


@pytest.mark.parametrize(("code", "reference", "bounds"), RANDOM, ids=[c for c, _, _ in RANDOM])
def test_random_draws_match_keras_distribution(code: str, reference: Callable[[Any], Any],
                                                bounds: tuple[float, float] | None) -> None:
    keras = _k()
    torch_code, problems = conv(code)
    assert problems == []
    torch.manual_seed(0)
    got = eval(torch_code, {"torch": torch, "nn": nn, "x": torch.as_tensor(X)}).numpy()  # noqa: S307
    want = np.asarray(keras.ops.convert_to_numpy(reference(keras)))
    assert got.shape == want.shape
    assert abs(got.mean() - want.mean()) < 0.05 * max(1.0, want.std())
    assert abs(got.std() - want.std()) < 0.03 * want.std()
    if bounds is not None:
        assert bounds[0] <= got.min() and got.max() <= bounds[1]


def test_random_integers_stay_in_range() -> None:
    code, problems = conv("tf.random.uniform((1000,), 2, 7, dtype=tf.int64)")
    assert problems == [] and code == "torch.randint(2, 7, (1000,))"
    got = eval(code, {"torch": torch})  # noqa: S307
    assert got.dtype == torch.int64 and set(got.tolist()) == {2, 3, 4, 5, 6}


def test_shuffle_is_a_permutation_of_rows() -> None:
    code, _ = conv("tf.random.shuffle(s)")
    got = eval(code, {"torch": torch, "s": torch.as_tensor(S)}).numpy()  # noqa: S307
    assert sorted(map(tuple, got)) == sorted(map(tuple, S))
