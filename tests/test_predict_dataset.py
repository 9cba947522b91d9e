"""``model.predict(dataset)`` on a Sequence or a tf.data pipeline yielding ``(x, y)``: Keras
predicts on each batch's inputs and drops the targets; the converted script feeds the same
batches through ``keras_predict_inputs`` to ``trainer.predict``. Constant initializers give
Keras 3 (torch backend) and the converted script the same weights, so the outputs match."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

SEQUENCE = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers


    class Batches(keras.utils.Sequence):
        def __init__(self, x, y, batch_size=8):
            super().__init__()
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):
            return int(np.ceil(len(self.x) / self.batch_size))

        def __getitem__(self, idx):
            s = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
            return self.x[s], self.y[s]


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        x = rng.normal(size=(20, 3)).astype("float32")
        y = x.sum(axis=1, keepdims=True)
        model = keras.Sequential([
            keras.Input((3,)),
            layers.Dense(4, activation="relu", kernel_initializer=keras.initializers.Constant(0.2)),
            layers.Dense(1, kernel_initializer=keras.initializers.Constant(0.3)),
        ])
        model.compile(optimizer="sgd", loss="mse")
        predictions = model.predict(Batches(x, y))
        print("SHAPE", predictions.shape)
        print("SUM", float(np.sum(predictions)))
    """)

PIPELINE = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers


    def make_dataset(a, b, y, batch_size=8):
        dataset = tf.data.Dataset.from_tensor_slices(((a, b), y))
        return dataset.batch(batch_size).prefetch(-1)


    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        a = rng.normal(size=(20, 3)).astype("float32")
        b = rng.normal(size=(20, 2)).astype("float32")
        y = a.sum(axis=1, keepdims=True)
        in_a = layers.Input((3,))
        in_b = layers.Input((2,))
        h = layers.Concatenate()([in_a, in_b])
        out = layers.Dense(1, kernel_initializer=keras.initializers.Constant(0.3))(h)
        model = keras.Model([in_a, in_b], out)
        model.compile(optimizer="adam", loss="mse")
        test_dataset = make_dataset(a, b, y)
        predictions = model.predict(test_dataset)
        print("SHAPE", predictions.shape)
        print("SUM", float(np.sum(predictions)))
    """)


def _lines(stdout: str) -> dict[str, str]:
    return {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in stdout.splitlines()
            if ln.startswith(("SHAPE", "SUM"))}


def test_predict_on_a_sequence_matches_keras(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    result = convert_source(SEQUENCE)
    assert result.keras_deps == [] and "TODO(k2l)" not in result.source, result.source
    assert "collate_fn=keras_predict_inputs" in result.source
    original = tmp_path / "original.py"
    original.write_text(SEQUENCE, encoding="utf-8")
    keras_run = subprocess.run([sys.executable, str(original)], capture_output=True, text=True,
                               timeout=300, check=False, cwd=tmp_path,
                               env={**os.environ, "KERAS_BACKEND": "torch"})
    assert keras_run.returncode == 0, keras_run.stderr[-3000:]
    run = run_without_tf(result.source, tmp_path, fast_dev_run=False)
    assert run.returncode == 0, run.stderr[-3000:]
    expected, got = _lines(keras_run.stdout), _lines(run.stdout)
    assert got["SHAPE"] == expected["SHAPE"] == "(20, 1)"
    assert abs(float(got["SUM"]) - float(expected["SUM"])) < 1e-5 * abs(float(expected["SUM"]))


def test_predict_on_a_pipeline_of_two_inputs_runs_without_tensorflow(tmp_path: Path) -> None:
    result = convert_source(PIPELINE)
    assert result.keras_deps == [] and "TODO(k2l)" not in result.source, result.source
    run = run_without_tf(result.source, tmp_path, fast_dev_run=False)
    assert run.returncode == 0, run.stderr[-3000:]
    got = _lines(run.stdout)
    assert got["SHAPE"] == "(20, 1)"
    # Dense(1) with every kernel entry 0.3 and a zero bias: 0.3 * the sum of every input
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 3)).astype("float32")
    b = rng.normal(size=(20, 2)).astype("float32")
    assert abs(float(got["SUM"]) - 0.3 * float(a.sum() + b.sum())) < 1e-4
