"""Equivalence against an original built in another process (issue 11, item 3).

The export path (weights, inputs and outputs as NumPy; ported and compared in the torch
process) is tested with Keras on torch as the exporting backend, which needs no TensorFlow.
The tests marked ``tensorflow`` build the original under real TensorFlow in its own process;
they run where ``K2L_TEST_TF_PYTHON`` or ``K2L_TF_PYTHON`` names a Python with TensorFlow
(``make test`` makes one in ``.tf-venv``) or TensorFlow is importable here, else skip.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.rules.convert import convert_source
from agent.sandbox import default
from agent.tools import equivalence_job
from agent.tools.tf_original import export, frozen_model, tf_python

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.slow

SOURCE = textwrap.dedent('''\
    import keras
    from keras import layers


    def build_model():
        inputs = keras.Input(shape=(7, 5))
        x = layers.Bidirectional(layers.LSTM(33, return_sequences=True))(inputs)
        x = layers.GRU(5)(x)
        x = layers.BatchNormalization()(x)
        return keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
    ''')

# tf.keras spelling, odd sizes and TF's asymmetric "same" padding, built by TensorFlow itself
CNN = textwrap.dedent('''\
    import tensorflow as tf
    from tensorflow import keras


    def build_model():
        inputs = keras.Input(shape=(9, 9, 3))
        x = keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu")(inputs)
        x = keras.layers.DepthwiseConv2D(3, depth_multiplier=3)(x)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(4)(x))
    ''')


def _job(tmp_path: Path, source: str) -> dict[str, Any]:
    original = tmp_path / "original.py"
    original.write_text(source)
    converted = tmp_path / "converted.py"
    conv = convert_source(source, "model.py")
    converted.write_text(conv.source)
    (recipe,) = conv.recipes
    return {"original": str(original), "converted": str(converted),
            "class_name": recipe.class_name, "var": recipe.var, "function": recipe.function,
            "original_code": recipe.original_code}


def test_exported_original_round_trips_and_matches(tmp_path: Path) -> None:
    job = _job(tmp_path, SOURCE)
    answer = export(job)
    assert answer["status"] == "ok", answer
    model, xs, ys = frozen_model(answer)
    assert [type(layer).__name__ for layer in model.layers if layer.weights] == [
        "Bidirectional", "GRU", "BatchNormalization", "Dense"]
    assert xs[0].shape == (3, 7, 5) and ys[0].shape == (3, 3)
    result = equivalence_job.run({**job, "tf": answer})
    assert result["status"] == "passed", result["message"]
    assert "against TensorFlow" in result["message"]


def test_exported_outputs_that_differ_fail(tmp_path: Path) -> None:
    job = _job(tmp_path, SOURCE)
    answer = export(job)
    model, xs, ys = frozen_model(answer)
    from agent.tools.tf_original import _pack, _unpack

    arrays = _unpack(answer["arrays"])
    arrays[answer["outputs"][0]] = arrays[answer["outputs"][0]] + np.float32(0.01)
    result = equivalence_job.run({**job, "tf": {**answer, "arrays": _pack(arrays)}})
    assert result["status"] == "failed", result["message"]


def test_without_tensorflow_the_fallback_says_why(tmp_path: Path) -> None:
    job = _job(tmp_path, SOURCE)
    result = equivalence_job.run({**job, "tf_why": "TensorFlow is not importable here"})
    assert result["status"] == "passed"
    assert "Keras on torch; no TensorFlow reference: TensorFlow is not importable" in \
        result["message"]


def _tf_python(monkeypatch: pytest.MonkeyPatch) -> str:
    """``make test`` passes the TensorFlow venv it made as K2L_TEST_TF_PYTHON; only these
    tests use it (a TensorFlow process per migrate run would slow every other test)."""
    made = os.environ.get("K2L_TEST_TF_PYTHON", "")
    if made:
        monkeypatch.setenv("K2L_TF_PYTHON", made)
    python, why = tf_python()
    if python is None:
        pytest.skip(why)
    return python


@pytest.mark.tensorflow
def test_original_built_by_real_tensorflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    _tf_python(monkeypatch)
    from agent.pipeline import with_tensorflow_reference

    jobs = [_job(tmp_path / name, source) for name, source in (("a", SOURCE), ("b", CNN))
            if (tmp_path / name).mkdir() is None]
    jobs = with_tensorflow_reference(jobs, default(), read_paths=(tmp_path,), timeout_s=300)
    for job in jobs:
        assert job["tf"]["status"] == "ok", job.get("tf") or job.get("tf_why")
        result = equivalence_job.run(job)
        assert result["status"] == "passed", result["message"]
        assert "against TensorFlow" in result["message"]
