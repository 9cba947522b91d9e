"""keras.ops NumPy-style functions (agent/rules/ops/numpy_like.py): every row's conversion is
run on torch and compared with Keras 3 running the original call on the same arrays (the
numbers come from Keras, not from the rows)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import libcst as cst
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from agent.rules.imports import collect_imports
from agent.rules.ops import numpy_like
from agent.rules.ops.rewrite import convert_expr
from agent.rules.ops.table import OPS

keras = pytest.importorskip("keras")

IMPORTS = collect_imports(cst.parse_module("import keras\nfrom keras import ops\n"))
RNG = np.random.default_rng(11)
ARRAYS = {
    "x": RNG.normal(size=(3, 4, 5)).astype("float32"),
    "a": RNG.normal(size=(4, 5)).astype("float32"),
    "b": (RNG.normal(size=(4, 5)) + 0.1).astype("float32"),
    "u": RNG.uniform(-0.9, 0.9, size=(4, 5)).astype("float32"),
    "p": RNG.uniform(1.1, 3.0, size=(4, 5)).astype("float32"),
    "m": RNG.normal(size=(4, 4)).astype("float32"),
    "i": RNG.integers(0, 20, size=(4, 5)).astype("int32"),
    "j": RNG.integers(1, 7, size=(4, 5)).astype("int32"),
    "n": np.array([[1.0, np.nan, -np.inf], [np.inf, 2.0, np.nan]], "float32"),
    "q": RNG.normal(size=(2, 6, 3, 4)).astype("float32"),
    "k": RNG.normal(size=(2, 5, 3, 4)).astype("float32"),
    "v": RNG.normal(size=(2, 5, 3, 4)).astype("float32"),
    "mask": RNG.random((2, 1, 6, 5)) > 0.3,
}
ARRAYS["spd"] = (ARRAYS["m"] @ ARRAYS["m"].T + 4 * np.eye(4)).astype("float32")
ARRAYS["order"] = np.argsort(ARRAYS["a"], axis=1)

CASES = [
    "ops.absolute(x)", "ops.fabs(x)", "ops.arccos(u)", "ops.arcsin(u)", "ops.arctan(x)",
    "ops.arctanh(u)", "ops.arcsinh(x)", "ops.arccosh(p)", "ops.deg2rad(x)", "ops.rad2deg(x)",
    "ops.exp2(x)", "ops.log2(p)", "ops.log10(p)", "ops.trunc(x * 3)", "ops.signbit(x)",
    "ops.isneginf(n)", "ops.isposinf(n)", "ops.erfinv(u)", "ops.i0(x)", "ops.sinc(x)",
    "ops.log_sigmoid(x)", "ops.nn.log_sigmoid(x)", "ops.hard_silu(x * 4)", "ops.hard_swish(x)",
    "ops.hard_tanh(x * 2)", "ops.tanh_shrink(x)", "ops.ravel(a)", "ops.fliplr(a)",
    "ops.flipud(a)", "ops.copy(x)", "ops.logdet(spd)",
    "ops.arctan2(a, b)", "ops.floor_divide(i, j)", "ops.floor_divide(a, 0.3)", "ops.mod(i, j)",
    "ops.mod(a, 0.7)", "ops.fmod(a, b)", "ops.true_divide(a, b)", "ops.hypot(a, b)",
    "ops.logaddexp(a, b)", "ops.heaviside(a, b)", "ops.fmax(a, b)", "ops.fmin(a, b)",
    "ops.kron(m, m)", "ops.inner(a, b)", "ops.bitwise_and(i, j)", "ops.bitwise_or(i, j)",
    "ops.bitwise_xor(i, j)",
    "ops.soft_shrink(x)", "ops.soft_shrink(x, 0.3)", "ops.hard_shrink(x, threshold=0.8)",
    "ops.celu(x, alpha=0.5)", "ops.glu(m)", "ops.glu(x, axis=1)", "ops.normalize(x)",
    "ops.normalize(x, axis=1)", "ops.nn.normalize(a, order=1)", "ops.normalize(a * 1e-5)",
    "ops.isclose(a, a + 1e-6)", "ops.isclose(a, b, atol=2.0)", "ops.isin(i, j)",
    "ops.nonzero(a > 0)", "ops.nan_to_num(n)", "ops.nan_to_num(n, nan=1.0, posinf=5.0)",
    "ops.take_along_axis(a, order, axis=1)", "ops.argsort(a)", "ops.argsort(a, axis=0)",
    "ops.moveaxis(x, 0, -1)", "ops.moveaxis(x, [0, 1], [2, 0])", "ops.swapaxes(x, 0, 2)",
    "ops.hstack([a, b])", "ops.vstack([a, b])", "ops.dstack([a, b])", "ops.rot90(a)",
    "ops.rot90(x, k=3, axes=(1, 2))", "ops.roll(a, 2)", "ops.roll(x, -1, axis=1)",
    "ops.diag(m)", "ops.diag(m, k=1)", "ops.diag(a[0])", "ops.diagonal(x)",
    "ops.diagonal(x, offset=1, axis1=1, axis2=2)", "ops.trace(m)",
    "ops.trace(x, offset=-1, axis1=1, axis2=2)", "ops.outer(a[0], b[1])", "ops.outer(m, a)",
    "ops.nanmean(n)", "ops.nanmean(n, axis=1)", "ops.nansum(n, axis=0, keepdims=True)",
    "ops.median(x)", "ops.median(x, axis=1)", "ops.median(a, axis=0, keepdims=True)",
    "ops.quantile(x, 0.3)", "ops.quantile(x, [0.25, 0.75], axis=0)",
    "ops.quantile(a, 0.4, axis=1, method='nearest')", "ops.percentile(a, 90)",
    "ops.percentile(a, [10, 50], axis=1, keepdims=True)", "ops.average(x)",
    "ops.average(x, axis=1)", "ops.identity(3)", "ops.full_like(a, 2.5)",
    "ops.convert_to_numpy(a)", "ops.det(m)", "ops.linalg.det(m)", "ops.inv(spd)",
    "ops.solve(spd, a[:, :2])", "ops.cholesky(spd)", "ops.linalg.cholesky(spd, upper=True)",
    "ops.slogdet(m)", "ops.eigh(spd)[0]", "ops.svd(m, compute_uv=False)", "ops.svd(m)[1]",
    "ops.absolute(ops.qr(m)[1])",
    "ops.dot_product_attention(q, k, v)", "ops.dot_product_attention(q, k, v, scale=0.3)",
    "ops.dot_product_attention(q, q, q, is_causal=True)",
    "ops.dot_product_attention(q, k, v, mask=mask)",
    "ops.dot_product_attention(q, k, v, bias=ops.where(mask, 0.0, -1e9))",
    "ops.amax(x, axis=1)", "ops.amin(x)", "ops.unstack(ops.convert_to_tensor(x), axis=1)[2]",
    "ops.nn.relu(x)", "ops.nn.gelu(x)", "ops.nn.softmax(x, axis=1)", "ops.nn.silu(x)",
]


def _torch(code: str) -> str:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    assert problems == [], problems
    out = cst.Module([]).code_for_node(node)
    assert "ops." not in out.replace("torch.", ""), out
    return out


def _numpy(value: object) -> object:
    if isinstance(value, (tuple, list)):
        return [_numpy(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(keras.ops.convert_to_numpy(value))


@pytest.mark.parametrize("code", CASES)
def test_row_matches_keras(code: str) -> None:
    want = _numpy(eval(code, {"ops": keras.ops, **ARRAYS}))  # noqa: S307 - the test's own cases
    torch_code = _torch(code)
    ns = {"torch": torch, "F": F, **{k: torch.as_tensor(v) for k, v in ARRAYS.items()}}
    got = _numpy(eval(torch_code, ns))  # noqa: S307 - the rules' output
    wants, gots = (want, got) if isinstance(want, list) else ([want], [got])
    assert len(wants) == len(gots), torch_code
    for w, g in zip(wants, gots, strict=True):
        w, g = np.asarray(w), np.asarray(g)
        assert g.shape == w.shape, (torch_code, g.shape, w.shape)
        np.testing.assert_allclose(g.astype("float64"), w.astype("float64"), rtol=2e-5,
                                   atol=2e-5, err_msg=torch_code)


def test_every_row_and_alias_has_a_case() -> None:
    """The table and the cases move together: a new row without a Keras comparison fails."""
    called = " ".join(CASES)

    def covered(name: str) -> bool:
        return f"ops.{name.split('keras.ops.', 1)[1]}(" in called

    rows = [names for names, _ in numpy_like.ROWS] + [[a] for a in numpy_like.ALIASES]
    missing = [names for names in rows if not any(covered(n) for n in names)
               and names != ["keras.ops.empty"]]  # uninitialised memory: nothing to compare
    assert missing == []


def test_nn_aliases_are_the_same_rows() -> None:
    for name in numpy_like.NN_ALIASES:
        if f"keras.ops.{name}" in OPS:
            assert OPS[f"keras.ops.nn.{name}"] is OPS[f"keras.ops.{name}"]
            assert getattr(keras.ops.nn, name) is getattr(keras.ops, name)


@pytest.mark.parametrize("code", [
    "ops.average(x, axis=1, weights=w)",
    "ops.dot_product_attention(q, k, v, bias=b, mask=m)",
    "ops.dot_product_attention(q, k, v, mask=m, is_causal=True)",
    "ops.quantile(x, 0.5, method='hazen')",
    "ops.identity(3, dtype='int32')",
])
def test_reported_not_converted(code: str) -> None:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    assert cst.Module([]).code_for_node(node) == code and len(problems) == 1


def test_keras_random_randint_and_dropout() -> None:
    """Random draws differ from Keras's stream; what Keras defines is checked: the range and
    dtype of randint, and dropout's zeros and 1 / (1 - rate) scaling of what it keeps."""
    ns = {"torch": torch, "F": F, "x": torch.ones(4000)}
    ints = eval(_torch("keras.random.randint((4000,), 2, 5)"), ns)  # noqa: S307
    keras_ints = keras.ops.convert_to_numpy(keras.random.randint((4000,), 2, 5))
    assert str(ints.dtype).endswith(str(keras_ints.dtype)) and set(ints.tolist()) == set(
        keras_ints.tolist()) == {2, 3, 4}
    dropped = eval(_torch("keras.random.dropout(x, 0.25)"), ns)  # noqa: S307
    keras_dropped = keras.ops.convert_to_numpy(keras.random.dropout(keras.ops.ones(4000),
                                                                    0.25))
    np.testing.assert_allclose(np.unique(dropped.numpy()), [0.0, 4 / 3], rtol=1e-6)
    np.testing.assert_allclose(np.unique(keras_dropped), [0.0, 4 / 3], rtol=1e-6)
    assert abs(float((dropped == 0).float().mean()) - 0.25) < 0.05
