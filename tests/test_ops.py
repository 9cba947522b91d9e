"""The op table: before/after for every entry, registry, and numerical checks vs keras.ops."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import libcst as cst
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr, is_elementwise, lambda_converter
from agent.rules.ops.spec import Op
from agent.rules.ops.table import NOT_CONVERTED, OPS
from agent.rules.spec import Unsupported

HEADER = ("import tensorflow as tf\nimport keras\nfrom keras import ops\n"
          "import keras.backend as K\n")
IMPORTS = collect_imports(cst.parse_module(HEADER))
_PREFIX = {"tensorflow": "tf", "keras.ops": "keras.ops", "keras.backend": "K",
           "keras.activations": "keras.activations", "keras.random": "keras.random",
           "keras.config": "keras.config", "keras.applications": "keras.applications",
           "keras.layers": "keras.layers"}


def conv(code: str, names: dict[str, str] | None = None) -> tuple[str, list[str]]:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, names or {})
    return cst.Module([]).code_for_node(node), problems


# Hand-checked before/after pairs (semantics in the comments of agent/rules/ops.py).
CASES = [
    ("tf.math.sin(inputs) * self.units", "torch.sin(inputs) * self.units"),
    ("tf.nn.leaky_relu(x)", "F.leaky_relu(x, negative_slope=0.2)"),
    ("tf.reduce_mean(x, axis=[1, 2], keepdims=True)", "torch.mean(x, dim=(1, 2), keepdim=True)"),
    ("tf.reduce_sum(x)", "torch.sum(x)"),
    ("tf.reduce_max(x, axis=-1)", "torch.amax(x, dim=-1)"),
    ("tf.reduce_max(x, keepdims=True)", "torch.amax(x, dim=(), keepdim=True)"),
    ("tf.add(tf.multiply(a, 2), b) * c", "(a * 2 + b) * c"),
    ("tf.subtract(a, tf.subtract(b, c))", "a - (b - c)"),
    ("tf.matmul(x, y, transpose_b=True)", "torch.matmul(x, y.mT)"),
    ("tf.linalg.matmul(x, y, transpose_a=True)", "torch.matmul(x.mT, y)"),
    ("tf.cast(x > 0, tf.float32)", "torch.as_tensor(x > 0, dtype=torch.float32)"),
    ('keras.ops.cast(x, "int32")', "torch.as_tensor(x, dtype=torch.int32)"),
    ("K.epsilon()", "1e-07"),
    ("tf.gather(x, i, axis=-2)", "x[..., i, :]"),
    ("tf.gather(x, i)", "x[i]"),
    ("tf.gather(x, i, axis=1)", "x[:, i]"),
    ("tf.nn.l2_normalize(x, axis=-1)", "F.normalize(x, p=2.0, dim=-1, eps=1e-06)"),
    ("tf.sin(tf.add(a, b))", "torch.sin(a + b)"),
    ("tf.transpose(x, perm=[0, 2, 1])", "torch.permute(x, (0, 2, 1))"),
    ("keras.ops.concatenate([x, y])", "torch.cat([x, y], dim=0)"),
    ("K.concatenate([x, y])", "torch.cat([x, y], dim=-1)"),
    ("tf.concat([x, y], axis=1)", "torch.cat([x, y], dim=1)"),
    ("tf.stack([x, y])", "torch.stack([x, y], dim=0)"),
    ("tf.maximum(x, 0.0)", "torch.clamp(x, min=0.0)"),
    ("tf.minimum(x, y)", "torch.minimum(x, y)"),
    ("tf.where(c)", "torch.argwhere(c)"),
    ("tf.where(c, x, y)", "torch.where(c, x, y)"),
    ("K.mean(K.square(y_pred - y_true), axis=-1)",
     "torch.mean(torch.square(y_pred - y_true), dim=-1)"),
    ("tf.nn.softmax(x)", "F.softmax(x, dim=-1)"),
    ("tf.nn.gelu(x)", "F.gelu(x)"),
    ("keras.ops.gelu(x)", 'F.gelu(x, approximate="tanh")'),
    ("tf.expand_dims(x, 1)", "torch.unsqueeze(x, dim=1)"),
    ("K.expand_dims(x)", "torch.unsqueeze(x, dim=-1)"),
    ("tf.squeeze(x)", "torch.squeeze(x)"),
    ("tf.squeeze(x, axis=[1])", "torch.squeeze(x, dim=(1,))"),
    ("tf.reshape(x, [-1, 4])", "torch.reshape(x, (-1, 4))"),
    ("tf.split(x, 2, axis=1)", "torch.chunk(x, 2, dim=1)"),
    ("tf.split(x, [1, 3], axis=1)", "torch.split(x, [1, 3], dim=1)"),
    ("keras.ops.split(x, 2, axis=1)", "torch.tensor_split(x, 2, dim=1)"),
    ("tf.tile(x, [1, 2])", "torch.tile(x, [1, 2])"),
    ("tf.one_hot(labels, 10)", "F.one_hot(labels.long(), 10).to(torch.float32)"),
    ("tf.cumsum(x)", "torch.cumsum(x, dim=0)"),
    ("keras.ops.cumsum(x)", "torch.cumsum(x.flatten(), dim=0)"),
    ("tf.argmax(x)", "torch.argmax(x, dim=0)"),
    ("tf.argmax(x, axis=-1)", "torch.argmax(x, dim=-1)"),
    ("keras.ops.argmax(x)", "torch.argmax(x)"),
    ("tf.norm(x, axis=-1)", "torch.linalg.vector_norm(x, dim=-1)"),
    ("tf.clip_by_value(x, 0.0, 1.0)", "torch.clamp(x, min=0.0, max=1.0)"),
    ("K.clip(x, 0.0, 1.0)", "torch.clamp(x, min=0.0, max=1.0)"),
    ("keras.ops.clip(x, 0.0, 1.0)", "torch.clamp(x, min=0.0, max=1.0)"),
    ("tf.ones_like(x)", "torch.ones_like(x)"),
    ("tf.zeros_like(x, dtype=tf.int32)", "torch.zeros_like(x, dtype=torch.int32)"),
    ("tf.einsum('bij,bjk->bik', x, y)", "torch.einsum('bij,bjk->bik', x, y)"),
    ("K.dot(x, y)", "torch.matmul(x, y)"),
    ("K.batch_dot(x, y, axes=(2, 2))", "torch.matmul(x, y.mT)"),
    ("K.sqrt(x)", "torch.sqrt(torch.clamp(x, min=0.0))"),
    ("keras.ops.sqrt(x)", "torch.sqrt(x)"),
    ("K.relu(x, alpha=0.1)", "F.leaky_relu(x, negative_slope=0.1)"),
    ("keras.activations.relu(x, max_value=6.0)", "torch.clamp(F.relu(x), max=6.0)"),
    ("tf.nn.silu(x, beta=2.0)", "x * torch.sigmoid(2.0 * x)"),
    ("ops.mean(x, axis=1)", "torch.mean(x, dim=1)"),
    ("tf.keras.backend.mean(x)", "torch.mean(x)"),
    ("x[:, tf.newaxis]", "x[:, None]"),
    ("tf.math.pow(x, 2)", "x ** 2"),
]


@pytest.mark.parametrize(("before", "after"), CASES)
def test_before_after(before: str, after: str) -> None:
    assert conv(before) == (after, [])


def _entries_with_examples() -> list[tuple[str, str, str]]:
    out = []
    for name, op in OPS.items():
        for before, after in op.examples:
            out.append((name, before, after))
    return out


@pytest.mark.parametrize(("name", "before", "after"), _entries_with_examples())
def test_table_examples(name: str, before: str, after: str) -> None:
    assert conv(before) == (after, [])


def _spelling(qualname: str) -> str:
    for prefix in sorted(_PREFIX, key=len, reverse=True):
        if qualname.startswith(prefix + "."):
            return _PREFIX[prefix] + qualname[len(prefix):]
    raise AssertionError(qualname)


# The rows of agent/rules/ops/tensors.py and nn_image.py: arguments a minimal call needs.
REQUIRED_MORE = {"tensorflow.fill": 2, "keras.ops.full": 2, "tensorflow.pad": 2,
                 "keras.ops.pad": 2, "tensorflow.repeat": 2, "keras.ops.repeat": 2,
                 "keras.backend.repeat_elements": 2, "tensorflow.nn.moments": 2,
                 "keras.ops.moments": 2, "tensorflow.linalg.band_part": 3,
                 "tensorflow.matrix_band_part": 3, "tensorflow.math.unsorted_segment_sum": 3,
                 "keras.ops.segment_sum": 3, "tensorflow.image.resize": 2,
                 "keras.ops.image.resize": 2, "tensorflow.image.crop_to_bounding_box": 5,
                 "tensorflow.random.categorical": 2, "keras.random.categorical": 2,
                 "tensorflow.broadcast_to": 2, "keras.ops.broadcast_to": 2,
                 "tensorflow.tensordot": 3, "tensorflow.linalg.tensordot": 3,
                 "tensorflow.random.gamma": 2}
VALUES_MORE = {"paddings": "[[0, 0], [1, 1]]", "pad_width": "[[0, 0], [1, 1]]",
               "repeats": "2", "axes": "[0]", "num_lower": "-1", "num_upper": "0",
               "segment_ids": "ids", "num_segments": "3", "size": "(4, 4)",
               "offset_height": "1", "offset_width": "1", "target_height": "2",
               "target_width": "2", "num_samples": "2", "dims": "(2, 3)", "alpha": "2.0"}
LOSSES = ("tensorflow.nn.sigmoid_cross_entropy_with_logits",
          "tensorflow.nn.softmax_cross_entropy_with_logits",
          "tensorflow.nn.sparse_softmax_cross_entropy_with_logits")


def _minimal_call(qualname: str, op: Op) -> str:
    """The op called with only the arguments it needs, tensors named a, b."""
    required = {"tensorflow.reshape": 2, "keras.ops.reshape": 2, "keras.backend.reshape": 2,
                "tensorflow.tile": 2, "keras.ops.tile": 2, "keras.backend.tile": 2,
                "tensorflow.gather": 2, "keras.backend.gather": 2, "keras.ops.take": 2,
                "tensorflow.split": 2, "keras.ops.split": 2, "tensorflow.one_hot": 2,
                "keras.ops.one_hot": 2, "keras.ops.nn.one_hot": 2, "keras.backend.one_hot": 2,
                "keras.random.randint": 3, "keras.random.dropout": 2,
                "tensorflow.expand_dims": 2,
                "keras.ops.expand_dims": 2, "tensorflow.cast": 2, "keras.ops.cast": 2,
                "keras.backend.cast": 2, "tensorflow.dtypes.cast": 2,
                "tensorflow.clip_by_value": 3, "keras.ops.clip": 3, "keras.backend.clip": 3,
                "keras.backend.switch": 3, "tensorflow.concat": 2, "keras.ops.where": 3,
                **REQUIRED_MORE}
    if qualname in LOSSES:  # TF requires them by keyword
        return f"{_spelling(qualname)}(labels=a, logits=b)"
    n = required.get(qualname, op.pos)
    values = VALUES_MORE | {"dtype": '"float32"', "shape": "(2, 3)", "newshape": "(2, 3)", "axis": "1",
              "multiples": "[1, 2]", "repeats": "[1, 2]", "n": "[1, 2]", "depth": "3",
              "num_classes": "3", "num_or_size_splits": "2", "indices_or_sections": "2",
              "indices": "idx", "equation": "'ij->ji'", "subscripts": "'ij->ji'",
              "clip_value_min": "0.0", "clip_value_max": "1.0", "x_min": "0.0",
              "x_max": "1.0", "min_value": "0.0", "max_value": "1.0"}
    args = []
    for k, p in enumerate(op.params[:n]):
        args.append(values.get(p, "ab"[k % 2] if k < 2 else "c"))
    if op.varargs:
        args.append("a")
    return f"{_spelling(qualname)}({', '.join(args)})"


@pytest.mark.parametrize("qualname", sorted(OPS))
def test_every_entry_converts(qualname: str) -> None:
    """Each table entry, called minimally, becomes torch code with no framework name left."""
    code, problems = conv(_minimal_call(qualname, OPS[qualname]))
    assert problems == []
    assert "tf." not in code and "keras" not in code and "K." not in code
    cst.parse_expression(code)


@pytest.mark.parametrize("qualname", sorted(OPS))
def test_registry_torch_targets_exist(qualname: str) -> None:
    target = OPS[qualname].torch
    if not target:
        return  # written by a handler, covered by the before/after and numerical tests
    head, _, attr = target.partition(".")
    module = {"torch": torch, "F": F}[head]
    for part in attr.split("."):
        module = getattr(module, part)
    assert callable(module)


def test_unknown_op_stays_visible() -> None:
    code, problems = conv("tf.math.bessel_i0(x) + 1")
    assert code == "tf.math.bessel_i0(x) + 1"
    assert problems == ["tensorflow.math.bessel_i0 has no torch mapping"]


@pytest.mark.parametrize("qualname", sorted(NOT_CONVERTED))
def test_not_converted_reasons(qualname: str) -> None:
    code, problems = conv(f"{_spelling(qualname)}(x)")
    assert code == f"{_spelling(qualname)}(x)"
    assert problems and NOT_CONVERTED[qualname] in problems[0]


def test_unsupported_argument_reported() -> None:
    code, problems = conv("tf.split(x, 2, num=2)")
    assert code == "tf.split(x, 2, num=2)"
    assert problems == ["tf.split(num=...)"]


def test_names_renamed_but_not_attributes_or_keywords() -> None:
    code, _ = conv("tf.nn.dropout(x, rate=rate) if training else self.training",
                   {"training": "self.training", "rate": "self.rate"})
    assert code == "tf.nn.dropout(x, rate=self.rate) if self.training else self.training"


def test_function_passed_as_value() -> None:
    assert conv("fn(tf.nn.relu)") == ("fn(F.relu)", [])


def test_lambda_converter() -> None:
    convert = lambda_converter(IMPORTS)
    body = cst.parse_expression("tf.math.sin(x) * 2 + x")
    assert convert(body, {"x": "{x}"}) == ("torch.sin({x}) * 2 + {x}", True)
    body = cst.parse_expression("K.mean(t, axis=1)")
    assert convert(body, {"t": "{x0}"}) == ("torch.mean({x0}, dim=1)", False)
    with pytest.raises(Unsupported, match="tensorflow.image.sobel_edges"):
        convert(cst.parse_expression("tf.image.sobel_edges(x)"), {"x": "{x}"})


def test_is_elementwise() -> None:
    def ew(code: str) -> bool:
        return is_elementwise(cst.parse_expression(code), IMPORTS)

    assert ew("tf.nn.relu(x) * 2 + tf.math.exp(x)")
    assert not ew("tf.reduce_sum(x, axis=1)")
    assert not ew("x[:, 0]")
    assert not ew("custom(x)")


# ---------------------------------------------------------------------------- numerical
RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 5)).astype("float32")
Y = RNG.standard_normal((3, 4, 5)).astype("float32")
M = RNG.standard_normal((3, 5, 2)).astype("float32")
POS = np.abs(X) + 0.1


def _ops():  # type: ignore[no-untyped-def]
    import keras

    return keras.ops, keras.activations


def _layers():  # type: ignore[no-untyped-def]
    import keras

    return keras.layers


NUMERIC = [
    ("tf.math.sin(x)", lambda o, a: o.sin(X), X),
    ("tf.math.exp(x)", lambda o, a: o.exp(X), X),
    ("tf.math.log(x)", lambda o, a: o.log(POS), POS),
    ("tf.math.rsqrt(x)", lambda o, a: 1.0 / o.sqrt(POS), POS),
    ("tf.math.round(x * 2)", lambda o, a: o.round(X * 2), X),
    ("tf.math.sign(x)", lambda o, a: o.sign(X), X),
    ("tf.math.square(x)", lambda o, a: o.square(X), X),
    ("tf.nn.relu6(x * 4)", lambda o, a: o.relu6(X * 4), X),
    ("tf.nn.elu(x)", lambda o, a: o.elu(X), X),
    ("tf.nn.selu(x)", lambda o, a: o.selu(X), X),
    ("tf.nn.gelu(x)", lambda o, a: a.gelu(X, approximate=False), X),
    ("keras.ops.gelu(x)", lambda o, a: o.gelu(X), X),
    ("tf.nn.swish(x)", lambda o, a: o.silu(X), X),
    ("tf.nn.softplus(x)", lambda o, a: o.softplus(X), X),
    ("tf.nn.softsign(x)", lambda o, a: o.softsign(X), X),
    ("tf.nn.leaky_relu(x)", lambda o, a: o.leaky_relu(X, negative_slope=0.2), X),
    ("keras.activations.leaky_relu(x)", lambda o, a: a.leaky_relu(X), X),
    ("tf.nn.softmax(x)", lambda o, a: o.softmax(X, axis=-1), X),
    ("tf.nn.log_softmax(x, axis=1)", lambda o, a: o.log_softmax(X, axis=1), X),
    ("tf.nn.l2_normalize(x, axis=-1)",
     lambda o, a: X / np.sqrt(np.maximum(np.sum(X * X, -1, keepdims=True), 1e-12)), X),
    ("tf.reduce_mean(x, axis=[1, 2], keepdims=True)",
     lambda o, a: o.mean(X, axis=(1, 2), keepdims=True), X),
    ("tf.reduce_max(x)", lambda o, a: o.max(X), X),
    ("tf.reduce_min(x, axis=1)", lambda o, a: o.min(X, axis=1), X),
    ("tf.reduce_prod(x, axis=2)", lambda o, a: o.prod(X, axis=2), X),
    ("tf.reduce_sum(x, keepdims=True)", lambda o, a: o.sum(X, keepdims=True), X),
    ("K.max(x, axis=-1, keepdims=True)", lambda o, a: o.max(X, axis=-1, keepdims=True), X),
    ("tf.transpose(x)", lambda o, a: o.transpose(X), X),
    ("tf.transpose(x, perm=[0, 2, 1])", lambda o, a: o.transpose(X, (0, 2, 1)), X),
    ("tf.matmul(x, m)", lambda o, a: o.matmul(X, M), X),
    ("tf.matmul(x, x, transpose_b=True)", lambda o, a: o.matmul(X, o.transpose(X, (0, 2, 1))),
     X),
    ("K.batch_dot(x, m)", lambda o, a: o.matmul(X, M), X),
    ("tf.einsum('bij,bjk->bik', x, m)", lambda o, a: o.einsum("bij,bjk->bik", X, M), X),
    ("tf.reshape(x, [3, -1])", lambda o, a: o.reshape(X, (3, -1)), X),
    ("tf.expand_dims(x, -1)", lambda o, a: o.expand_dims(X, -1), X),
    ("tf.squeeze(tf.expand_dims(x, 1), axis=1)", lambda o, a: X, X),
    ("tf.concat([x, x], axis=-1)", lambda o, a: o.concatenate([X, X], axis=-1), X),
    ("keras.ops.stack([x, x], axis=1)", lambda o, a: o.stack([X, X], axis=1), X),
    ("keras.layers.concatenate([x, x * 2])",
     lambda o, a: _layers().concatenate([X, X * 2]), X),
    ("keras.layers.concatenate([x, x * 2], axis=1)",
     lambda o, a: _layers().concatenate([X, X * 2], axis=1), X),
    ("tf.clip_by_value(x, -0.5, 0.5)", lambda o, a: o.clip(X, -0.5, 0.5), X),
    ("tf.where(x > 0, x, 0.0)", lambda o, a: o.where(X > 0, X, 0.0), X),
    ("tf.maximum(x, 0.1)", lambda o, a: o.maximum(X, 0.1), X),
    ("tf.tile(x, [1, 2, 1])", lambda o, a: o.tile(X, (1, 2, 1)), X),
    ("tf.cumsum(x, axis=1)", lambda o, a: o.cumsum(X, axis=1), X),
    ("keras.ops.cumsum(x)", lambda o, a: o.cumsum(X), X),
    ("tf.norm(x, axis=-1)", lambda o, a: o.norm(X, axis=-1), X),
    ("tf.norm(x)", lambda o, a: np.sqrt(np.sum(X * X)), X),
    ("tf.nn.l2_normalize(x)", lambda o, a: X / np.sqrt(np.sum(X * X)), X),
    ("tf.gather(x, [2, 0], axis=1)", lambda o, a: o.take(X, np.array([2, 0]), axis=1), X),
    ("tf.gather(x, [2, 0], axis=-1)", lambda o, a: o.take(X, np.array([2, 0]), axis=-1), X),
    ("tf.cast(tf.argmax(x, axis=-1), tf.float32)",
     lambda o, a: o.cast(o.argmax(X, axis=-1), "float32"), X),
    ("tf.one_hot(tf.argmax(x, axis=-1), 5)",
     lambda o, a: o.one_hot(o.argmax(X, axis=-1), 5), X),
    ("K.sqrt(x)", lambda o, a: o.sqrt(o.maximum(X, 0.0)), X),
    ("tf.stack(tf.meshgrid(x[0, 0], x[0, 1, :3]), axis=0)",
     lambda o, a: o.stack(o.meshgrid(X[0, 0], X[0, 1, :3]), axis=0), X),
    ("tf.stack(tf.meshgrid(x[0, 0], x[0, 1, :3], indexing='ij'), axis=0)",
     lambda o, a: o.stack(o.meshgrid(X[0, 0], X[0, 1, :3], indexing="ij"), axis=0), X),
    ("tf.signal.fft(tf.complex(x, tf.zeros_like(x)))",
     lambda o, a: np.fft.fft(X.astype("complex64")), X),
    ("tf.linspace(2.0, 3.0, 5) + x[0, 0]", lambda o, a: o.linspace(2.0, 3.0, 5) + X[0, 0], X),
    ("x / (K.sum(x) + K.epsilon())", lambda o, a: X / (o.sum(X) + 1e-7), X),
]


@pytest.mark.parametrize(("code", "reference", "data"), NUMERIC, ids=[c for c, _, _ in NUMERIC])
def test_numerical(code: str, reference, data: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    import keras

    torch_code, problems = conv(code)
    assert problems == []
    ns = {"torch": torch, "F": F, "x": torch.as_tensor(data), "m": torch.as_tensor(M)}
    got = eval(torch_code, ns)  # noqa: S307 - our own generated code
    ops, acts = _ops()
    want = np.asarray(keras.ops.convert_to_numpy(reference(ops, acts)))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_split_chunks_match_keras() -> None:
    import keras

    code, _ = conv("tf.split(x, 5, axis=2)")
    got = eval(code, {"torch": torch, "x": torch.as_tensor(X)})  # noqa: S307
    want = keras.ops.split(X, 5, axis=2)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), keras.ops.convert_to_numpy(w))
