"""Weightless Keras layers applied to data outside models (``UpSampling2D`` on attention maps)
→ runtime/data_layers.py modules: the same numbers as Keras 3, and the script's tf.data
pipelines convert once no Keras layer is left."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.rules.training.runtime.data_layers import KerasUpSampling2D

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")
IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)

SCRIPT = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    x = np.random.rand(32, 6, 6, 1).astype("float32")
    y = np.random.randint(0, 2, size=(32,))
    train_ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).prefetch(tf.data.AUTOTUNE)

    model = keras.Sequential([
        keras.Input((6, 6, 1)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(train_ds, epochs=1)

    upsampler = layers.UpSampling2D(size=(4, 4), interpolation="bilinear")
    maps = upsampler(x[:2])
    heat = layers.UpSampling2D(size=2, dtype="float32")(x[:2])
    print("SHAPES", tuple(maps.shape), tuple(heat.shape))
""")


@pytest.mark.parametrize("kwargs", [
    {"size": (4, 4), "interpolation": "bilinear"},
    {"size": (2, 3)},
    {"size": 3, "interpolation": "bilinear", "data_format": "channels_first"},
    {"size": (3, 2), "interpolation": "nearest", "data_format": "channels_last"},
])
def test_upsampling_matches_keras(kwargs: dict[str, object]) -> None:
    x = np.random.default_rng(1).normal(size=(2, 5, 4, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.layers.UpSampling2D(**kwargs)(x))
    got = KerasUpSampling2D(**kwargs)(x)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_unsupported_interpolation_fails_loudly() -> None:
    with pytest.raises(ValueError, match="interpolation"):
        KerasUpSampling2D(interpolation="lanczos3")


def test_layer_on_data_converts_and_the_script_runs_without_tensorflow(tmp_path: Path) -> None:
    res = convert_source(SCRIPT)
    assert not IMPORTS.search(res.source), res.source
    assert 'upsampler = KerasUpSampling2D(size=(4, 4), interpolation="bilinear")' in res.source
    assert "class KerasUpSampling2D(nn.Module):" in res.source
    assert "train_ds = DataLoader(" in res.source  # the pipeline converted: no Keras layer left
    lines = {c.line for c in res.changes if c.rule == "data.layer"}
    assert lines == {19, 21}, res.changes
    script = tmp_path / "train.py"
    script.write_text(res.source)
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "SHAPES (2, 24, 24, 1) (2, 12, 12, 1)" in run.stdout, run.stdout


def test_a_keras_layer_left_keeps_the_data_layer_keras() -> None:
    src = SCRIPT.replace('    layers.GlobalAveragePooling2D(),\n',
                         '    layers.GlobalAveragePooling2D(),\n    layers.NoSuchLayer(),\n')
    res = convert_source(src)
    assert "layers.UpSampling2D(size=(4, 4)" in res.source
    assert not any(c.rule == "data.layer" for c in res.changes)
