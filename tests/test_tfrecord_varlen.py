"""``tf.io.VarLenFeature`` and ``tf.sparse.to_dense`` in a TFRecord map function
(runtime/image_ops.py): features with any number of values, absent ones empty, convert with
their pipeline. TensorFlow writes the records and parses them in its own process
(``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``; else the comparison skips); the converted script
parses them where TensorFlow cannot be imported, element by element."""

from __future__ import annotations

import ast
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

PARSE = textwrap.dedent('''\
    import tensorflow as tf


    def parse(record):
        spec = {
            "label": tf.io.FixedLenFeature([], tf.int64),
            "boxes": tf.io.VarLenFeature(tf.float32),
            "ids": tf.io.VarLenFeature(tf.int64),
        }
        example = tf.io.parse_single_example(record, spec)
        boxes = tf.sparse.to_dense(example["boxes"])
        return example["label"], boxes * 2.0, tf.sparse.to_dense(example["ids"])


    def build(files):
        return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    ''')

WRITE = textwrap.dedent('''\
    import json, sys
    import tensorflow as tf
    spec = json.loads(sys.argv[1])
    with tf.io.TFRecordWriter(spec["file"]) as writer:
        for k, boxes in enumerate([[0.5, 1.0, 2.5, 3.0], [], [9.0, -1.5]]):
            feature = {
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[k])),
                "boxes": tf.train.Feature(float_list=tf.train.FloatList(value=boxes)),
            }
            if k != 1:  # absent in one record: an empty tensor
                feature["ids"] = tf.train.Feature(int64_list=tf.train.Int64List(
                    value=list(range(k + 1))))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    ''')

RUN = textwrap.dedent('''\
    import json, runpy, sys
    import numpy as np
    spec = json.loads(sys.argv[1])
    if spec["block"]:
        sys.modules.update(keras=None, tensorflow=None)
    ns = runpy.run_path(spec["script"])
    out = {}
    for b, parts in enumerate(ns["build"]([spec["file"]])):
        for j, t in enumerate(parts):
            out[f"{b}_{j}"] = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    np.savez(spec["out"], **out)
    ''')


def _converted(tmp_path: Path) -> Path:
    result = convert_source(PARSE, "records.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(result.source))
                if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"keras", "tensorflow"}, imported
    assert '"boxes": VarLenFeature(torch.float32)' in result.source
    assert 'boxes = example["boxes"]' in result.source  # to_dense: the values already
    script = tmp_path / "converted.py"
    script.write_text(result.source, encoding="utf-8")
    return script


def test_varlen_parsing_converts_with_its_pipeline(tmp_path: Path) -> None:
    _converted(tmp_path)


def _run(python: str, script: Path, file: str, block: bool) -> dict[str, np.ndarray]:
    runner = script.parent / "run.py"
    runner.write_text(RUN, encoding="utf-8")
    out = script.parent / f"{script.stem}_{int(block)}.npz"
    spec = json.dumps({"script": str(script), "file": file, "block": block, "out": str(out)})
    done = subprocess.run([python, str(runner), spec], capture_output=True, text=True,
                          timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
                               "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.tensorflow
def test_varlen_features_give_tensorflows_values(tmp_path: Path) -> None:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    file = str(tmp_path / "boxes.tfrec")
    done = subprocess.run([python, "-c", WRITE, json.dumps({"file": file})],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    original = tmp_path / "original.py"
    original.write_text(PARSE, encoding="utf-8")
    theirs = _run(python, original, file, block=False)
    ours = _run(sys.executable, _converted(tmp_path), file, block=True)
    assert sorted(ours) == sorted(theirs) and len(theirs) == 9  # 3 records of 3 parts
    assert theirs["1_1"].shape == (0,) and theirs["1_2"].shape == (0,)  # absent, empty
    for key, want in theirs.items():
        assert ours[key].dtype == want.dtype and ours[key].shape == want.shape, key
        np.testing.assert_array_equal(ours[key], want, err_msg=key)
