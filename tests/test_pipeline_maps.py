"""tf.data pipelines with map functions (agent/rules/training/pipeline_maps.py): the
functions handed to ``.map``/``.filter`` (and what they call) convert with their pipeline,
or nothing does and the report says which function keeps tf.data.

The end-to-end test writes PNG files with Pillow, runs the original pipeline under real
TensorFlow in its own process (``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``; else it skips) and
the converted script in a process where Keras and TensorFlow cannot be imported, and compares
every element: the numbers come from TensorFlow's run.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.rules.convert import convert_source
from agent.tools.tf_original import tf_python

PIL = pytest.importorskip("PIL.Image")

# A pipeline as real scripts write one: file names and labels, a map function calling a
# decode helper (tf.io, tf.image, tf.strings), a lambda map, batch, a map on the batches.
PIPELINE = textwrap.dedent('''\
    import os

    import tensorflow as tf

    SIZE = (6, 5)
    AUTOTUNE = tf.data.AUTOTUNE


    def decode(data):
        image = tf.io.decode_png(data, channels=3)
        image = tf.image.convert_image_dtype(image, tf.float32)
        return tf.image.resize(image, SIZE)


    def load(path, label):
        name = tf.strings.split(path, os.sep)[-1]
        size = tf.strings.length(name)
        return decode(tf.io.read_file(path)), label, size


    def build(paths, labels):
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        ds = ds.map(load, num_parallel_calls=AUTOTUNE)
        ds = ds.map(lambda x, y, n: (tf.image.flip_left_right(x), y * 2, n))
        ds = ds.batch(3)
        return ds.map(lambda x, y, n: (tf.image.rgb_to_grayscale(x), y, n), AUTOTUNE)
    ''')

RUN = textwrap.dedent('''\
    import json, runpy, sys
    import numpy as np
    spec = json.loads(sys.argv[1])
    if spec["block"]:
        sys.modules.update(keras=None, tensorflow=None)  # neither can be imported
    ns = runpy.run_path(spec["script"])
    out = {}
    args = [np.asarray(a, dtype=np.int64)  # both sides: an int64 array, not a list of ints
            if isinstance(a, list) and all(isinstance(v, int) for v in a) else a
            for a in spec["args"]]
    for b, batch in enumerate(ns["build"](*args)):
        for j, t in enumerate(batch):
            out[f"{b}_{j}"] = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    np.savez(spec["out"], **out)
    ''')


def _run(python: str, script: Path, args: list[Any], block: bool) -> dict[str, np.ndarray]:
    runner = script.parent / "run.py"
    runner.write_text(RUN, encoding="utf-8")
    out = script.with_suffix(".npz")
    spec = json.dumps({"script": str(script), "args": args, "block": block, "out": str(out)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([python, str(runner), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def _tf() -> str:
    made = os.environ.get("K2L_TEST_TF_PYTHON", "")
    python = made if made else tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    return python


def _same_elements(theirs: dict[str, np.ndarray], ours: dict[str, np.ndarray]) -> None:
    assert sorted(ours) == sorted(theirs)
    for key, want in theirs.items():
        got = ours[key]
        assert got.shape == want.shape, key
        assert got.dtype == want.dtype, (key, got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.tensorflow
def test_converted_pipeline_gives_tensorflows_elements(tmp_path: Path) -> None:
    python = _tf()
    rng = np.random.default_rng(5)
    paths = []
    for k, (h, w) in enumerate([(9, 11), (4, 4), (12, 7), (8, 8), (5, 13)]):
        path = tmp_path / "photos" / f"img_{k:0{k + 1}d}.png"  # names of several lengths
        path.parent.mkdir(exist_ok=True)
        PIL.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    labels = [3, 1, 4, 1, 5]

    result = convert_source(PIPELINE, "pipeline.py")
    assert not result.error and not result.unmapped, result.unmapped
    tree = ast.parse(result.source)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    assert not imported & {"keras", "tensorflow"}, imported
    assert "ds = ds.map(load)\n" in result.source  # num_parallel_calls goes
    assert "ds.map(lambda x, y, n: (image_grayscale(x), y, n))" in result.source
    assert {c.rule for c in result.changes} >= {"data.map_function", "data.DataPipeline"}

    original = tmp_path / "original.py"
    original.write_text(PIPELINE, encoding="utf-8")
    converted = tmp_path / "converted.py"
    converted.write_text(result.source, encoding="utf-8")
    theirs = _run(python, original, [paths, labels], block=False)
    ours = _run(sys.executable, converted, [paths, labels], block=True)
    assert len(theirs) == 6  # 2 batches of 3 parts
    _same_elements(theirs, ours)


# TFRecord files of tf.train.Example records, read and parsed in a map function
RECORDS = textwrap.dedent('''\
    import tensorflow as tf

    FEATURES = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "values": tf.io.FixedLenFeature([3], tf.float32),
        "extra": tf.io.FixedLenFeature([2], tf.int64, default_value=[7, -8]),
    }


    def parse(record):
        example = tf.io.parse_single_example(record, FEATURES)
        image = tf.io.decode_png(example["image"], channels=3)
        image = tf.image.resize(image, (4, 4))
        return image, example["label"], example["values"], example["extra"]


    def build(files, compression):
        ds = tf.data.TFRecordDataset(files, compression_type=compression)
        return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).batch(2)
    ''')

WRITE = textwrap.dedent('''\
    import io, json, sys
    import numpy as np
    import tensorflow as tf
    spec = json.loads(sys.argv[1])
    rng = np.random.default_rng(2)
    for path, compression in spec["files"]:
        with tf.io.TFRecordWriter(path, options=compression) as writer:
            for k in range(3):
                png = tf.io.encode_png(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
                feature = {
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[png.numpy()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[k - 1])),
                    "values": tf.train.Feature(float_list=tf.train.FloatList(
                        value=rng.random(3).tolist())),
                }
                if k == 1:
                    feature["extra"] = tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[2**40, -3]))
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    ''')


@pytest.mark.tensorflow
@pytest.mark.parametrize("compression", ["", "GZIP"])
def test_tfrecord_pipeline_gives_tensorflows_elements(tmp_path: Path, compression: str) -> None:
    python = _tf()
    files = [[str(tmp_path / f"part{k}.tfrec"), compression] for k in range(2)]
    writer = tmp_path / "write.py"
    writer.write_text(WRITE, encoding="utf-8")
    done = subprocess.run([python, str(writer), json.dumps({"files": files})],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]

    result = convert_source(RECORDS, "records.py")
    assert not result.error and not result.unmapped, result.unmapped
    tree = ast.parse(result.source)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    assert not imported & {"keras", "tensorflow"}, imported
    original = tmp_path / "original.py"
    original.write_text(RECORDS, encoding="utf-8")
    converted = tmp_path / "converted.py"
    converted.write_text(result.source, encoding="utf-8")
    args = [[f for f, _ in files], compression]
    theirs = _run(python, original, args, block=False)
    ours = _run(sys.executable, converted, args, block=True)
    assert len(theirs) == 12  # 6 records in 3 batches of 4 parts
    _same_elements(theirs, ours)


def test_a_map_function_without_rows_keeps_tf_data_and_is_reported_once() -> None:
    source = textwrap.dedent('''\
        import tensorflow as tf


        def augment(x):
            return tf.image.random_jpeg_quality(x, 50, 90)


        def scale(x):
            return tf.cast(x, tf.float32) / 255.0


        ds = tf.data.Dataset.from_tensor_slices(tf.zeros((4, 2, 2, 3)))
        ds = ds.map(scale).map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        ''')
    result = convert_source(source, "aug.py")
    assert "tf.data.Dataset.from_tensor_slices" in result.source
    assert "ds.map(scale).map(augment, num_parallel_calls=tf.data.AUTOTUNE)" in result.source
    assert "return tf.cast(x, tf.float32) / 255.0" in result.source  # not half converted
    kept = [u for u in result.unmapped if u.keras_name == "tensorflow.data.Dataset.map"]
    assert len(kept) == 1 and kept[0].line == 13
    assert "augment" in kept[0].reason and "random_jpeg_quality" in kept[0].reason


def test_map_per_batch_runs_after_batch_and_per_element_before() -> None:
    """DataPipeline applies each map where it sits in the chain, as tf.data does."""
    source = textwrap.dedent('''\
        import tensorflow as tf


        def build(x):
            ds = tf.data.Dataset.from_tensor_slices(x)
            ds = ds.map(lambda v: tf.reduce_sum(v))
            return ds.batch(2).map(lambda b: tf.reduce_sum(b))
        ''')
    result = convert_source(source, "order.py")
    assert not result.unmapped, result.unmapped
    ns: dict[str, object] = {}
    exec(compile(result.source, "order.py", "exec"), ns)  # noqa: S102 - the rules' output
    build = ns["build"]
    assert callable(build)
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    got = [float(v) for v in build(x)]
    # per element: row sums 1, 5, 9, 13, 17, 21; per batch of two: 6, 22, 38
    assert got == [6.0, 22.0, 38.0]


def test_string_rows_stay_out_of_functions_outside_pipelines() -> None:
    source = textwrap.dedent('''\
        import tensorflow as tf


        def standardize(text):
            return tf.strings.regex_replace(tf.strings.lower(text), "[.,]", "")
        ''')
    result = convert_source(source, "text.py")
    assert 'return tf.strings.regex_replace(tf.strings.lower(text), "[.,]", "")' in result.source


def test_a_pipeline_feeding_a_keras_model_keeps_its_map_functions() -> None:
    source = textwrap.dedent('''\
        import tensorflow as tf
        from tensorflow import keras


        def scale(x, y):
            return tf.cast(x, tf.float32) / 255.0, y


        ds = tf.data.Dataset.from_tensor_slices((tf.zeros((4, 3)), tf.zeros((4,))))
        ds = ds.map(scale).batch(2)
        model = keras.applications.ResNet50(weights=None)
        model.fit(ds)
        ''')
    result = convert_source(source, "fed.py")
    assert "return tf.cast(x, tf.float32) / 255.0, y" in result.source
    assert "ds = tf.data.Dataset.from_tensor_slices(" in result.source
    assert not [u for u in result.unmapped if u.keras_name == "tensorflow.data.Dataset.map"]


GFILE = textwrap.dedent('''\
    import tensorflow as tf


    def build(folder):
        tf.io.gfile.makedirs(folder + "/made/deeper")
        found = tf.io.gfile.glob(folder + "/*.rec")
        names = tf.io.gfile.listdir(folder)
        flags = [tf.io.gfile.exists(folder + "/a.rec"), tf.io.gfile.exists(folder + "/no"),
                 tf.io.gfile.isdir(folder + "/made")]
        with tf.io.gfile.GFile(folder + "/a.rec") as f:
            text = f.read()
        return [(found, names, flags, [text])]
    ''')


@pytest.mark.tensorflow
def test_gfile_calls_give_tensorflows_answers_on_local_files(tmp_path: Path) -> None:
    python = _tf()
    result = convert_source(GFILE, "files.py")
    assert not result.unmapped and "tf." not in result.source.split("def build")[1]
    answers = []
    for k, (side, code, block) in enumerate([(python, GFILE, False),
                                             (sys.executable, result.source, True)]):
        folder = tmp_path / f"side{k}"
        folder.mkdir()
        for name in ("c", "a", "e10", "b", "e2"):  # directory order is not name order
            (folder / f"{name}.rec").write_text(name, encoding="utf-8")
        script = tmp_path / f"script{k}.py"
        script.write_text(code, encoding="utf-8")
        out = _run(side, script, [str(folder)], block=block)
        answers.append({key: [str(v).replace(str(folder), "") for v in value.tolist()]
                        for key, value in out.items()})
    assert answers[0] == answers[1]
    assert answers[0]["0_3"] == ["a"]


def test_remote_paths_fail_loudly_without_tensorflow() -> None:
    from agent.rules.training.runtime import image_ops

    with pytest.raises(OSError, match="remote path"):
        image_ops.gfile_glob("gs://bucket/train*.tfrec")
