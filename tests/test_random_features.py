"""Keras 2's ``RandomFourierFeatures`` → ``RandomFourierFeatureMap`` (issue 9, item 4).

Keras 3 has no such layer, so the reference is tf_keras (Keras 2) under real TensorFlow, run
in its own process (``make tf-venv`` installs both); without it those tests skip. The
conversion tests need neither.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.imports import canonical
from agent.rules.training.runtime.random_features import RandomFourierFeatureMap
from agent.tools.tf_original import tf_python

SVM = textwrap.dedent('''\
    from tensorflow import keras
    from tensorflow.keras import layers
    from tensorflow.keras.layers.experimental import RandomFourierFeatures
    from tensorflow.keras.layers.experimental.preprocessing import Rescaling

    FEATURES = 48
    model = keras.Sequential(
        [
            keras.Input(shape=(12,)),
            Rescaling(1.0 / 255),
            RandomFourierFeatures(output_dim=FEATURES, scale=4.0, kernel_initializer="gaussian"),
            layers.Dense(units=3),
        ]
    )
    model.compile(optimizer="adam", loss=keras.losses.hinge)
    ''')

# tf_keras builds the layer; its weights, an input and its output come back as NumPy
TF_SIDE = textwrap.dedent('''\
    import sys
    import numpy as np
    import tf_keras
    from tf_keras.layers.experimental import RandomFourierFeatures

    kind, scale, out = sys.argv[1], sys.argv[2], sys.argv[3]
    layer = RandomFourierFeatures(
        16, kernel_initializer=kind, scale=None if scale == "none" else float(scale))
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    y = layer(x).numpy()
    np.savez(out, x=x, y=y, **{w.name.split("/")[-1].split(":")[0]: w.numpy()
                               for w in layer.weights})
    ''')


def test_experimental_paths_resolve_to_the_layers() -> None:
    assert canonical("tensorflow.keras.layers.experimental.preprocessing.Rescaling") == \
        "keras.layers.Rescaling"
    assert canonical("tensorflow.keras.layers.experimental.RandomFourierFeatures") == \
        "keras.layers.RandomFourierFeatures"


def test_sequential_with_random_features_converts_and_trains_nothing_in_the_map() -> None:
    result = convert_source(SVM, "svm.py")
    code = result.source
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert not result.keras_deps, result.keras_deps
    assert "tensorflow" not in code, code
    assert 'RandomFourierFeatureMap(\n            12,\n            FEATURES,' in code or \
        "RandomFourierFeatureMap(12, FEATURES," in code, code
    assert "scale=4.0" in code
    namespace: dict[str, object] = {}
    exec(compile(code, "svm.py", "exec"), namespace)
    model = namespace["model"]
    assert isinstance(model, torch.nn.Module)
    out = model(torch.rand(2, 12) * 255)
    assert out.shape == (2, 3)
    # the Keras layer's default trainable=False: only the Dense trains
    assert {n for n, p in model.named_parameters()} == {"dense.weight", "dense.bias"}


def test_trainable_random_features_stay_unconverted() -> None:
    src = SVM.replace('kernel_initializer="gaussian")', 'kernel_initializer="gaussian", '
                      'trainable=True)')
    result = convert_source(src, "svm.py")
    assert any("trainable=True" in u.reason for u in result.unmapped), result.unmapped


def test_default_scales_follow_keras() -> None:
    gaussian = RandomFourierFeatureMap(8, 4)
    assert gaussian.kernel_scale.item() == pytest.approx((8 / 2.0) ** 0.5)
    assert RandomFourierFeatureMap(8, 4, kernel_initializer="laplacian").kernel_scale.item() \
        == 1.0
    bias = RandomFourierFeatureMap(8, 4000).bias
    assert 0.0 <= bias.min().item() and bias.max().item() < 2 * np.pi


@pytest.mark.parametrize(("kind", "scale"), [("gaussian", "none"), ("gaussian", "2.5"),
                                             ("laplacian", "none")])
def test_matches_tf_keras(tmp_path: Path, kind: str, scale: str) -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    script = tmp_path / "tf_side.py"
    script.write_text(TF_SIDE, encoding="utf-8")
    out = tmp_path / "tf.npz"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([python, str(script), kind, scale, str(out)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    if "No module named 'tf_keras'" in done.stderr:
        pytest.skip("tf_keras is not installed next to TensorFlow (make tf-venv installs it)")
    assert done.returncode == 0, done.stderr[-3000:]
    ref = np.load(out)
    layer = RandomFourierFeatureMap(6, 16, kernel_initializer=kind,
                                    scale=None if scale == "none" else float(scale))
    assert layer.kernel_scale.numpy() == pytest.approx(ref["kernel_scale"])
    assert layer.unscaled_kernel.shape == ref["unscaled_kernel"].shape
    layer.unscaled_kernel.copy_(torch.as_tensor(ref["unscaled_kernel"]))
    layer.bias.copy_(torch.as_tensor(ref["bias"]))
    got = layer(torch.as_tensor(ref["x"])).numpy()
    np.testing.assert_allclose(got, ref["y"], atol=1e-5)
