"""tf.image pixel ops (psnr, ssim, image_gradients, HSV adjustments) and the scan/segment rows:
before/after text, and numbers against references written independently of the code under
test (``colorsys`` per pixel, NumPy sliding windows, NumPy loops, Keras 3's ops). The same
inputs were also compared with TensorFlow 2.21 when the rows were written (max difference
under 1e-6; integer images equal)."""

from __future__ import annotations

import colorsys
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import libcst as cst
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from agent.rules.imports import collect_imports
from agent.rules.ops.rewrite import convert_expr
from agent.rules.training.runtime import image_pixels as px

IMPORTS = collect_imports(cst.parse_module("import tensorflow as tf\nimport keras\n"))
RNG = np.random.default_rng(3)
A = RNG.random((2, 14, 13, 3)).astype("float32")
B = np.clip(A + RNG.normal(0, 0.1, A.shape), 0, 1).astype("float32")
X = RNG.normal(size=(3, 4, 5)).astype("float32")


def conv(code: str) -> tuple[str, list[str]]:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    return cst.Module([]).code_for_node(node), problems


def run(code: str, **names: object) -> np.ndarray:
    torch_code, problems = conv(code)
    assert problems == []
    ns = {"torch": torch, "F": F, **px.__dict__, **names}
    return np.asarray(eval(torch_code, ns))  # noqa: S307 - our own generated code


CASES = [
    ("tf.image.psnr(a, b, max_val=255.0)", "image_psnr(a, b, 255.0)"),
    ("tf.image.ssim(a, b, 1.0, filter_size=7, k1=0.02)",
     "image_ssim(a, b, 1.0, filter_size=7, k1=0.02)"),
    ("tf.image.image_gradients(x)", "image_gradients(x)"),
    ("tf.image.random_saturation(x, lower=0.2, upper=1.8)",
     "image_random_saturation(x, 0.2, 1.8)"),
    ("tf.image.random_hue(x, 0.1, seed=4)", "image_random_hue(x, 0.1, seed=4)"),
    ("tf.math.cumprod(x)", "torch.cumprod(x, dim=0)"),
    ("tf.cumsum(x, axis=-2, exclusive=True)",
     "torch.cumsum(torch.cat([torch.zeros_like(x[..., 0:1, :]), x[..., :-1, :]], dim=-2), "
     "dim=-2)"),
    ("keras.ops.cumprod(x)", "torch.cumprod(x.flatten(), dim=0)"),
    ("tf.unstack(x)", "list(torch.unbind(x, dim=0))"),
    ("tf.math.reduce_euclidean_norm(x, axis=1, keepdims=True)",
     "torch.linalg.vector_norm(x, dim=1, keepdim=True)"),
    # TF's [1, rows, cols, 1] windows read as Keras 3 writes them
    ("tf.image.extract_patches(images=x, sizes=[1, p, p, 1], strides=[1, p, p, 1], "
     "rates=[1, 1, 1, 1], padding='VALID')", "image_extract_patches(x, p, p)"),
    ("tf.image.extract_patches(x, [1, 3, 5, 1], [1, 2, 2, 1], [1, 2, 2, 1], 'SAME')",
     "image_extract_patches(x, (3, 5), 2, dilation_rate=2, padding='SAME')"),
    ("tf.image.extract_image_patches(x, ksizes=k, strides=s, rates=r, padding=pad)",
     "image_extract_patches(x, k, s, dilation_rate=r, padding=pad)"),
    ("keras.ops.image.extract_patches(x, size=self.patch_size)",
     "image_extract_patches(x, self.patch_size)"),
]


@pytest.mark.parametrize(("before", "after"), CASES)
def test_before_after(before: str, after: str) -> None:
    assert conv(before) == (after, [])


@pytest.mark.parametrize("code", [
    "tf.image.ssim(a, b, 1.0, return_index_map=True)",
    "tf.cumsum(x, axis=n, exclusive=True)",  # the shift needs a literal axis
    "tf.linalg.set_diag(m, d, k=1)",
    "tf.ragged.constant(rows, inner_shape=(2,))",  # TF checks a dense inner block
    "keras.ops.image.extract_patches(x, 4, data_format='channels_first')",
])
def test_reported_not_converted(code: str) -> None:
    after, problems = conv(code)
    assert after == code and len(problems) == 1


# ---------------------------------------------------------------------------- image numbers
def _psnr_ref(a: np.ndarray, b: np.ndarray, peak: float) -> np.ndarray:
    mse = ((a.astype("float64") - b) ** 2).mean(axis=(1, 2, 3))
    return 10 * np.log10(peak ** 2 / mse)


def _ssim_ref(a: np.ndarray, b: np.ndarray, peak: float, size: int = 11, sigma: float = 1.5,
              k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """SSIM from its definition: Gaussian-weighted window statistics, "valid" positions."""
    r = np.arange(size) - (size - 1) / 2
    w = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    w /= w.sum()
    win = np.lib.stride_tricks.sliding_window_view
    out = []
    for x, y in zip(a.astype("float64"), b.astype("float64"), strict=True):
        px_, py_ = win(x, (size, size), axis=(0, 1)), win(y, (size, size), axis=(0, 1))

        def mean(t: np.ndarray) -> np.ndarray:
            return (t * w).sum(axis=(-2, -1))  # noqa: B023

        mx, my = mean(px_), mean(py_)
        vx, vy, cxy = mean(px_ ** 2) - mx ** 2, mean(py_ ** 2) - my ** 2, mean(px_ * py_) - mx * my
        c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
        s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
        out.append(s.mean())
    return np.array(out)


def test_psnr_float_and_uint8() -> None:
    got = run("tf.image.psnr(a, b, max_val=1.0)", a=torch.as_tensor(A), b=torch.as_tensor(B))
    np.testing.assert_allclose(got, _psnr_ref(A, B, 1.0), rtol=1e-5)
    a8, b8 = (A * 255).astype("uint8"), (B * 255).astype("uint8")
    got8 = run("tf.image.psnr(a, b, 255)", a=torch.as_tensor(a8), b=torch.as_tensor(b8))
    np.testing.assert_allclose(got8, _psnr_ref(a8, b8, 255.0), rtol=1e-5)


@pytest.mark.parametrize(("code", "kw"), [
    ("tf.image.ssim(a, b, max_val=1.0)", {}),
    ("tf.image.ssim(a, b, 1.0, filter_size=5, filter_sigma=0.8, k2=0.05)",
     {"size": 5, "sigma": 0.8, "k2": 0.05}),
])
def test_ssim(code: str, kw: dict[str, float]) -> None:
    got = run(code, a=torch.as_tensor(A), b=torch.as_tensor(B))
    np.testing.assert_allclose(got, _ssim_ref(A, B, 1.0, **kw), rtol=1e-5, atol=1e-6)  # type: ignore[arg-type]
    same = run(code, a=torch.as_tensor(A), b=torch.as_tensor(A))
    np.testing.assert_allclose(same, 1.0, rtol=1e-5)


def test_image_gradients() -> None:
    dy, dx = px.image_gradients(torch.as_tensor(A))
    want_dy = np.concatenate([np.diff(A, axis=1), np.zeros_like(A[:, :1])], axis=1)
    want_dx = np.concatenate([np.diff(A, axis=2), np.zeros_like(A[:, :, :1])], axis=2)
    np.testing.assert_allclose(dy.numpy(), want_dy, atol=1e-7)
    np.testing.assert_allclose(dx.numpy(), want_dx, atol=1e-7)


def _per_pixel(image: np.ndarray, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    flat = image.reshape(-1, 3).astype("float64")
    return np.array([fn(*p) for p in flat]).reshape(image.shape)


def test_rgb_hsv_round_trip_matches_colorsys() -> None:
    hsv = px.image_rgb_to_hsv(torch.as_tensor(A)).numpy()
    np.testing.assert_allclose(hsv, _per_pixel(A, colorsys.rgb_to_hsv), atol=1e-6)
    back = px.image_hsv_to_rgb(torch.as_tensor(hsv)).numpy()
    np.testing.assert_allclose(back, A, atol=1e-6)


def _saturation_ref(r: float, g: float, b: float, factor: float) -> tuple[float, ...]:
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    return colorsys.hsv_to_rgb(h, min(max(s * factor, 0.0), 1.0), v)


def _hue_ref(r: float, g: float, b: float, delta: float) -> tuple[float, ...]:
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    return colorsys.hsv_to_rgb((h + delta) % 1.0, s, v)


@pytest.mark.parametrize("factor", [0.3, 1.7])
def test_adjust_saturation(factor: float) -> None:
    got = run(f"tf.image.adjust_saturation(x, {factor})", x=torch.as_tensor(A))
    want = _per_pixel(A, lambda r, g, b: _saturation_ref(r, g, b, factor))
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("delta", [0.3, -0.45])
def test_adjust_hue(delta: float) -> None:
    got = run(f"tf.image.adjust_hue(x, {delta})", x=torch.as_tensor(A))
    want = _per_pixel(A, lambda r, g, b: _hue_ref(r, g, b, delta))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_adjust_uint8_keeps_dtype() -> None:
    a8 = (A * 255).astype("uint8")
    got = px.image_adjust_hue(torch.as_tensor(a8), 0.2)
    assert got.dtype == torch.uint8
    want = _per_pixel(a8 / 255.0, lambda r, g, b: _hue_ref(r, g, b, 0.2))
    assert np.abs(got.numpy().astype(int) - want * 255.5).max() <= 1  # TF: x * 255.5, truncated


def test_random_adjustments_draw_one_factor_in_range() -> None:
    x = torch.as_tensor(A)
    out = px.image_random_saturation(x, 0.5, 0.6, seed=1)
    candidates = [px.image_adjust_saturation(x, f).numpy() for f in np.linspace(0.5, 0.6, 201)]
    assert min(np.abs(out.numpy() - c).max() for c in candidates) < 2e-3
    hue = px.image_random_hue(x, 0.05, seed=2)
    turned = [px.image_adjust_hue(x, d).numpy() for d in np.linspace(-0.05, 0.05, 201)]
    assert min(np.abs(hue.numpy() - c).max() for c in turned) < 2e-3
    with pytest.raises(ValueError):
        px.image_random_hue(x, 0.6)


# ---------------------------------------------------------------------------- scans, segments
def _exclusive(cum, x: np.ndarray, axis: int, identity: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    shifted = np.concatenate([np.full_like(np.take(x, [0], axis), identity),
                              np.take(x, range(x.shape[axis] - 1), axis)], axis=axis)
    return cum(shifted, axis=axis)


def test_scans() -> None:
    t = torch.as_tensor(X)
    np.testing.assert_allclose(run("tf.math.cumprod(x, axis=-1, exclusive=True)", x=t),
                               _exclusive(np.cumprod, X, -1, 1.0), rtol=1e-5)
    rev = np.flip(_exclusive(np.cumprod, np.flip(X, 1), 1, 1.0), 1)
    np.testing.assert_allclose(run("tf.math.cumprod(x, 1, True, True)", x=t), rev, rtol=1e-5)
    rev_sum = np.flip(np.cumsum(np.flip(X, 0), axis=0), 0)
    np.testing.assert_allclose(run("tf.cumsum(x, reverse=True)", x=t), rev_sum, rtol=1e-5)
    import keras

    np.testing.assert_allclose(run("keras.ops.cumprod(x, axis=2)", x=t),
                               keras.ops.convert_to_numpy(keras.ops.cumprod(X, axis=2)),
                               rtol=1e-5)


@pytest.mark.parametrize(("name", "reduce", "empty"), [
    ("mean", np.mean, 0.0), ("prod", np.prod, 1.0), ("max", np.max, np.finfo("float32").min),
    ("min", np.min, np.finfo("float32").max)])
def test_unsorted_segments(name: str, reduce, empty: float) -> None:  # type: ignore[no-untyped-def]
    ids = np.array([2, 0, 2])
    got = run(f"tf.math.unsorted_segment_{name}(data, ids, num_segments=4)",
              data=torch.as_tensor(X), ids=torch.as_tensor(ids))
    for k in range(4):
        rows = X[ids == k]
        want = reduce(rows, axis=0) if len(rows) else np.full(X.shape[1:], empty)
        np.testing.assert_allclose(got[k], want, rtol=1e-6)


def test_unstack_set_diag_euclidean_norm() -> None:
    t = torch.as_tensor(X)
    parts = run("tf.unstack(x, axis=1)[-1]", x=t)
    np.testing.assert_array_equal(parts, X[:, -1])
    m = X[:, :, :4].copy()
    got = run("tf.linalg.set_diag(m, tf.zeros(tf.shape(m)[:-1]))", m=torch.as_tensor(m))
    for k in range(3):
        np.fill_diagonal(m[k], 0.0)
    np.testing.assert_array_equal(got, m)
    np.testing.assert_allclose(run("tf.math.reduce_euclidean_norm(x, axis=[1, 2])", x=t),
                               np.linalg.norm(X.reshape(3, -1), axis=1), rtol=1e-5)


PATCH_SETTINGS = [
    ((2, 9, 11, 3), {"size": 3}),
    ((2, 9, 11, 3), {"size": (2, 3), "strides": (2, 1)}),
    ((2, 9, 11, 3), {"size": 3, "strides": 2, "padding": "same"}),
    ((2, 10, 10, 2), {"size": 2, "strides": 3, "dilation_rate": 2}),
    ((2, 10, 9, 2), {"size": (3, 2), "strides": (2, 3), "padding": "same"}),
    ((8, 8, 3), {"size": 4}),  # one image, no batch axis
]


@pytest.mark.parametrize(("shape", "kw"), PATCH_SETTINGS)
def test_extract_patches_matches_keras(shape: tuple[int, ...], kw: dict[str, object]) -> None:
    """Keras 3's own extract_patches (an identity-kernel convolution) defines the numbers."""
    import keras

    images = RNG.random(shape).astype("float32")
    want = keras.ops.convert_to_numpy(keras.ops.image.extract_patches(images, **kw))
    got = px.image_extract_patches(torch.as_tensor(images), **kw).numpy()
    np.testing.assert_array_equal(got, want)


def test_extract_patches_tf_form_and_integer_images() -> None:
    """TF's four-entry windows give Keras's patches; integer images keep their dtype."""
    images = RNG.integers(0, 256, (2, 8, 6, 3)).astype("uint8")
    t = torch.as_tensor(images)
    tf_form = run("tf.image.extract_patches(x, [1, 2, 3, 1], [1, 2, 3, 1], [1, 1, 1, 1], "
                  "'VALID')", x=t)
    assert tf_form.dtype == np.uint8 and tf_form.shape == (2, 4, 2, 18)
    # the first patch, read by hand in (row, column, channel) order
    np.testing.assert_array_equal(tf_form[0, 0, 0], images[0, :2, :3].reshape(-1))
    np.testing.assert_array_equal(
        tf_form, px.image_extract_patches(t, (2, 3)).numpy())


def test_runtime_names_are_unique() -> None:
    """Runtime files are copied by top-level name: a name defined in two files would copy
    the wrong one into a script (a helper of image_pixels.py once shadowed pretrained.py's)."""
    import ast

    from agent.rules.training.utilities import RUNTIME

    seen: dict[str, str] = {}
    for path in RUNTIME:
        for node in ast.parse(path.read_text("utf-8")).body:
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else [
                t.id for t in getattr(node, "targets", [getattr(node, "target", None)])
                if isinstance(t, ast.Name)]
            for name in names:
                assert name not in seen, f"{name} in {path.name} and {seen[name]}"
                seen[name] = path.name
