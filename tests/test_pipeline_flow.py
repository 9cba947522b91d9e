"""tf.data pipelines that flow between statements and functions (pipeline_flow.py).

A chain continued by a later statement stays a DataPipeline (a DataLoader has no
``.map``/``.prefetch``), and pipelines returned by a helper reach ``fit``/``evaluate`` as
pipelines, not as arrays. Converted scripts run in a process where Keras and TensorFlow
cannot be imported; where a Python with TensorFlow exists (``K2L_TEST_TF_PYTHON`` /
``K2L_TF_PYTHON``) the elements are compared with TensorFlow's own.
"""

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

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

HELPERS = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    AUTO = tf.data.AUTOTUNE
    FEATURES = 6


    def make_pipelines(n=50):
        rng = np.random.default_rng(3)
        x = rng.normal(size=(n, FEATURES)).astype("float32")
        y = (x[:, 0] > 0).astype("int64")
        train = tf.data.Dataset.from_tensor_slices((x[:40], y[:40]))
        train = train.shuffle(16, seed=1).batch(16).prefetch(AUTO)
        held = tf.data.Dataset.from_tensor_slices((x[40:], y[40:])).batch(16)
        return train, held


    def make_one(n=30):
        rng = np.random.default_rng(4)
        x = rng.normal(size=(n, FEATURES)).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 1] > 0).astype("int64")))
        return ds.map(lambda a, b: (a * 2.0, b), num_parallel_calls=AUTO).batch(8)


    if __name__ == "__main__":
        model = keras.Sequential([keras.Input(shape=(FEATURES,)), keras.layers.Dense(2)])
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        train_ds, held_ds = make_pipelines()
        model.fit(train_ds, epochs=1, validation_data=held_ds)
        model.evaluate(held_ds)
        model.fit(make_one(), epochs=1)
        print("BATCHES", sum(1 for _ in train_ds), sum(1 for _ in held_ds),
              sum(1 for _ in make_one()))
    ''')

CONTINUED = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    AUTO = tf.data.AUTOTUNE
    x = np.arange(30, dtype="float32").reshape(10, 3)
    y = np.arange(10) % 3
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    ds = ds.map(lambda a, b: (a + 1.0, b), num_parallel_calls=AUTO)
    ds = ds.prefetch(AUTO)

    if __name__ == "__main__":
        model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(3)])
        model.compile(optimizer="sgd",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(ds, epochs=1)
        print("FITTED")
    ''')

# the module-level ``ds`` of a script (its main block not run), element by element
ELEMENTS = textwrap.dedent('''\
    import json, runpy, sys
    import numpy as np
    spec = json.loads(sys.argv[1])
    if spec["block"]:
        sys.modules.update(keras=None, tensorflow=None)
    ns = runpy.run_path(spec["script"])
    out = {}
    for b, batch in enumerate(ns["ds"]):
        for j, t in enumerate(batch):
            out[f"{b}_{j}"] = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    np.savez(spec["out"], **out)
    ''')


def _convert(source: str, tmp_path: Path) -> Path:
    res = convert_source(source)
    assert res.keras_deps == [], res.keras_deps
    script = tmp_path / "train.py"
    script.write_text(res.source, encoding="utf-8")
    return script


def _run_blocked(script: Path) -> str:
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=300, cwd=script.parent, env=env, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout


def _elements(python: str, script: Path, block: bool) -> dict[str, np.ndarray]:
    runner = script.parent / "elements.py"
    runner.write_text(ELEMENTS, encoding="utf-8")
    out = script.parent / f"{script.stem}_{int(block)}.npz"
    spec = json.dumps({"script": str(script), "block": block, "out": str(out)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([python, str(runner), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def test_pipelines_returned_by_a_helper_are_fed_as_pipelines(tmp_path: Path) -> None:
    script = _convert(HELPERS, tmp_path)
    out = script.read_text(encoding="utf-8")
    # the buffered shuffle stays a DataPipeline; the plain chain became a DataLoader
    assert "train = train.shuffle(16, seed=1).batch(16).prefetch(AUTO)" in out
    assert "held = DataLoader(" in out
    assert "DataLoader(train_ds, batch_size=None)" in out  # a pipeline batches itself
    assert "val_loader = held_ds" in out and "test_loader = held_ds" in out
    assert "DataLoader(make_one(), batch_size=None)" in out
    assert "np.asarray(train_ds)" not in out and "for a in held_ds" not in out
    stdout = _run_blocked(script)
    # 40 samples in batches of 16, 10 in one batch of 16, 30 in batches of 8
    assert "BATCHES 3 1 4" in stdout


def test_a_chain_continued_by_later_statements_stays_a_pipeline(tmp_path: Path) -> None:
    script = _convert(CONTINUED, tmp_path)
    out = script.read_text(encoding="utf-8")
    assert "ds = DataPipeline.from_tensor_slices((x, y)).batch(4)" in out
    assert "ds = ds.map(lambda a, b: (a + 1.0, b))" in out
    assert "DataLoader(ds, batch_size=None)" in out
    assert "FITTED" in _run_blocked(script)
    ours = _elements(sys.executable, script, block=True)
    x = np.arange(30, dtype="float32").reshape(10, 3)
    assert [ours[f"{b}_0"].shape for b in range(3)] == [(4, 3), (4, 3), (2, 3)]
    np.testing.assert_array_equal(np.concatenate([ours[f"{b}_0"] for b in range(3)]), x + 1)


@pytest.mark.tensorflow
def test_a_continued_chain_gives_tensorflows_elements(tmp_path: Path) -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    original = tmp_path / "original.py"
    original.write_text(CONTINUED, encoding="utf-8")
    theirs = _elements(python, original, block=False)
    ours = _elements(sys.executable, _convert(CONTINUED, tmp_path), block=True)
    assert sorted(ours) == sorted(theirs)
    for key, want in theirs.items():
        assert ours[key].dtype == want.dtype, key
        np.testing.assert_array_equal(ours[key], want)


KEPT = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    AUTO = tf.data.AUTOTUNE
    x = np.zeros((8, 3), "float32")
    y = np.zeros((8,), "int64")
    scale = tf.ones((3,)) * 2.0
    ds = tf.data.Dataset.from_tensor_slices((x * scale, y)).shuffle(4).batch(4).prefetch(AUTO)
    hashing = keras.layers.Hashing(num_bins=3)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(ds, epochs=1)
    ''')


def test_tf_data_kept_for_a_keras_layer_left_says_which_layer() -> None:
    res = convert_source(KEPT)
    assert "ds = tf.data.Dataset.from_tensor_slices(" in res.source  # stays TF: Keras code left
    why = ("tf.data stays TensorFlow: keras.layers.Hashing is left in this script, and "
           "the pipelines feeding Keras/TF code must yield TF tensors")
    records = [u for u in res.unmapped if u.keras_name.startswith("tensorflow.data.")]
    deps = [d for d in res.keras_deps if d.name.startswith("tensorflow.data.")]
    assert {u.keras_name for u in records} == {"tensorflow.data.AUTOTUNE",
                                                "tensorflow.data.Dataset.from_tensor_slices"}
    assert {u.reason for u in records} == {why}
    assert {d.name for d in deps} == {u.keras_name for u in records}
    assert {d.why for d in deps} == {why}
    assert not any("has no torch mapping" in u.reason for u in records)


def test_a_keras_function_the_utilities_replace_does_not_keep_tf_data() -> None:
    """``preprocess_input`` becomes a runtime function: no Keras model is left, so the
    pipeline converts (before, it counted as a model left and tf.data stayed)."""
    src = textwrap.dedent('''\
        import numpy as np
        import tensorflow as tf
        from tensorflow import keras

        x = keras.applications.resnet50.preprocess_input(np.ones((8, 3), "float32") * 9)
        ds = tf.data.Dataset.from_tensor_slices(x).shuffle(4).batch(4)
        ''')
    res = convert_source(src)
    assert "ds = DataPipeline.from_tensor_slices(x).shuffle(4).batch(4)" in res.source
    assert res.keras_deps == []


def test_take_on_a_batched_chain_keeps_it_a_pipeline(tmp_path: Path) -> None:
    """``for batch in ds.take(1)`` after ``ds = ...batch(4)``: a DataLoader has no take."""
    src = CONTINUED.replace('    print("FITTED")', '    for batch in ds.take(1):\n'
                                                   '        print("FIRST", tuple(batch[0].shape))\n'
                                                   '    print("FITTED")')
    src = src.replace("ds = ds.map(lambda a, b: (a + 1.0, b), num_parallel_calls=AUTO)\n"
                      "ds = ds.prefetch(AUTO)\n", "")
    assert "ds.take(1)" in src and "ds.prefetch" not in src
    script = _convert(src, tmp_path)
    assert "ds = DataPipeline.from_tensor_slices((x, y)).batch(4)" in script.read_text("utf-8")
    stdout = _run_blocked(script)
    assert "FIRST (4, 3)" in stdout and "FITTED" in stdout
