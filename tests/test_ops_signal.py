"""tf.signal FFT rows (agent/rules/ops/signal.py): the converted code against Keras 3's own
FFTs, which take and return (real, imaginary) pairs over the same innermost axes as TF."""

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
RNG = np.random.default_rng(0)


def _run(code: str, x: np.ndarray) -> np.ndarray:
    node, problems = convert_expr(cst.parse_expression(code), IMPORTS, {})
    assert problems == []
    torch_code = cst.Module([]).code_for_node(node)
    assert "tf." not in torch_code
    return eval(torch_code, {"torch": torch, "x": torch.as_tensor(x)}).numpy()  # noqa: S307


@pytest.mark.parametrize(("tf_fn", "keras_fn"), [("fft", "fft"), ("fft2d", "fft2")])
def test_complex_fft_matches_keras(tf_fn: str, keras_fn: str) -> None:
    import keras

    x = RNG.standard_normal((2, 4, 6)).astype("float32")
    real, imag = getattr(keras.ops, keras_fn)((x, np.zeros_like(x)))
    got_real = _run(f"tf.math.real(tf.signal.{tf_fn}(tf.cast(x, tf.complex64)))", x)
    got_imag = _run(f"tf.math.imag(tf.signal.{tf_fn}(tf.cast(x, tf.complex64)))", x)
    assert np.max(np.abs(keras.ops.convert_to_numpy(real) - got_real)) < 1e-4
    assert np.max(np.abs(keras.ops.convert_to_numpy(imag) - got_imag)) < 1e-4


def test_fft3d_transforms_the_three_innermost_axes() -> None:
    x = RNG.standard_normal((2, 3, 4, 5)).astype("float32")
    got = _run("tf.math.real(tf.signal.fft3d(tf.cast(x, tf.complex64)))", x)
    assert np.max(np.abs(np.fft.fftn(x, axes=(-3, -2, -1)).real - got)) < 1e-4


def test_rfft_matches_keras_and_a_length_is_refused() -> None:
    import keras

    x = RNG.standard_normal((3, 8)).astype("float32")
    real, _ = keras.ops.rfft(x)
    got = _run("tf.math.real(tf.signal.rfft(x))", x)
    assert np.max(np.abs(keras.ops.convert_to_numpy(real) - got)) < 1e-4
    _, problems = convert_expr(cst.parse_expression("tf.signal.rfft(x, fft_length=[16])"),
                               IMPORTS, {})
    assert problems
