"""Keras models called in tf.data map functions (pipeline_models.py): the converted module
runs in the mode Keras would use (``training=`` given, else inference) with a batch axis
added per element; a model the script also uses elsewhere keeps tf.data, reported.
Elements are compared with TensorFlow's where a Python with TensorFlow exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from agent.rules.convert import convert_source
from agent.tools.tf_original import tf_python

SCRIPT = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    images = np.arange(6 * 4 * 4 * 3, dtype="float32").reshape(6, 4, 4, 3)
    labels = np.arange(6) % 2
    prep = keras.Sequential([layers.Rescaling(0.5, offset=1.0)])
    prep_batch = keras.Sequential([layers.Rescaling(0.5, offset=1.0)])  # built on batches
    flip = keras.Sequential([layers.RandomFlip("horizontal")])

    per_element = tf.data.Dataset.from_tensor_slices((images, labels))
    per_element = per_element.map(lambda x, y: (prep(x), y)).batch(4)
    per_batch = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    per_batch = per_batch.map(lambda x, y: (prep_batch(x, training=False), y))
    augmented = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    augmented = augmented.map(lambda x, y: (flip(x, training=True), y))

    if __name__ == "__main__":
        model = keras.Sequential([keras.Input((4, 4, 3)), layers.Flatten(), layers.Dense(2)])
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(per_element, epochs=1, validation_data=per_batch)
        model.fit(augmented, epochs=1)
        print("TRAINED")
    ''')

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

ELEMENTS = textwrap.dedent('''\
    import json, runpy, sys
    import numpy as np
    spec = json.loads(sys.argv[1])
    if spec["block"]:
        sys.modules.update(keras=None, tensorflow=None)
    ns = runpy.run_path(spec["script"])
    out = {}
    for name in ("per_element", "per_batch"):
        for b, (x, y) in enumerate(ns[name]):
            out[f"{name}_{b}_x"] = np.asarray(x)
            out[f"{name}_{b}_y"] = np.asarray(y)
    np.savez(spec["out"], **out)
    ''')


def _elements(python: str, script: Path, block: bool) -> dict[str, np.ndarray]:
    runner = script.parent / "elements.py"
    runner.write_text(ELEMENTS, encoding="utf-8")
    out = script.parent / f"{script.stem}.npz"
    spec = json.dumps({"script": str(script), "block": block, "out": str(out)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
           "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([python, str(runner), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def _converted(tmp_path: Path) -> Path:
    res = convert_source(SCRIPT)
    assert res.keras_deps == [], res.keras_deps
    script = tmp_path / "converted.py"
    script.write_text(res.source, encoding="utf-8")
    return script


def test_model_calls_in_maps_get_keras_mode_and_batch_axis(tmp_path: Path) -> None:
    script = _converted(tmp_path)
    out = script.read_text(encoding="utf-8")
    assert "per_element.map(lambda x, y: (prep.train(False)(x[None])[0], y))" in out
    assert "per_batch.map(lambda x, y: (prep_batch.train(False)(x), y))" in out
    assert "augmented.map(lambda x, y: (flip.train(True)(x), y))" in out
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env=env, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "TRAINED" in run.stdout
    ours = _elements(sys.executable, script, block=True)
    images = np.arange(6 * 4 * 4 * 3, dtype="float32").reshape(6, 4, 4, 3)
    for name in ("per_element", "per_batch"):
        got = np.concatenate([ours[f"{name}_0_x"], ours[f"{name}_1_x"]])
        np.testing.assert_allclose(got, images * 0.5 + 1.0)  # Rescaling(0.5, offset=1.0)


@pytest.mark.tensorflow
def test_model_calls_in_maps_give_tensorflows_elements(tmp_path: Path) -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    original = tmp_path / "original.py"
    original.write_text(SCRIPT, encoding="utf-8")
    theirs = _elements(python, original, block=False)
    ours = _elements(sys.executable, _converted(tmp_path), block=True)
    assert sorted(ours) == sorted(theirs)
    for key, want in theirs.items():
        assert ours[key].shape == want.shape, key
        np.testing.assert_allclose(ours[key], want, err_msg=key)


def test_a_model_also_used_outside_its_pipelines_keeps_tf_data() -> None:
    res = convert_source(SCRIPT.replace('    print("TRAINED")',
                                        '    print("TRAINED", prep(images).shape)'))
    assert "per_element.map(lambda x, y: (prep(x), y))" in res.source
    reasons = [u.reason for u in res.unmapped if u.keras_name == "tensorflow.data.Dataset.map"]
    assert reasons and all("prep: a converted model the script also uses outside its "
                           "pipelines" in r for r in reasons)
