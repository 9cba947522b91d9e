"""``tf.data.experimental.make_csv_dataset`` → runtime/csv_dataset.py, and ``tf.cast(x,
tf.string)`` in map functions (the runtime's ``strings_cast``).

The same CSV files are read by TensorFlow (in a process with TensorFlow:
``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``; else those comparisons skip) and by the runtime
reader; every batch must be equal: feature names and order, dtypes, values (TF's strings are
bytes, the runtime's ``str``). A converted training script reads its CSV files without
Keras or TensorFlow."""

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
from without_tf import run_without_tf

from agent.rules.convert import convert_source
from agent.rules.training.runtime.csv_dataset import make_csv_dataset
from agent.rules.training.runtime.image_ops import strings_cast
from agent.tools.tf_original import tf_python

HEADER = "age,city,income,label\n"
ROWS_A = ["31,Oslo,1200.5,1", "45,,,0", "27,Lima,980.25,1", "52,NA,2100.0,0"]
ROWS_B = ["38,Rome,1500.75,1", "2200000000,Kyiv,1.5,0", "19,Pune,300.0,1"]

# keyword arguments of make_csv_dataset: (case, arguments); {dir} is the files' folder
CASES: list[tuple[str, dict[str, Any]]] = [
    ("inferred", {"file_pattern": "{dir}/part_a.csv", "batch_size": 3, "num_epochs": 1,
                  "shuffle": False}),
    ("labelled", {"file_pattern": "{dir}/part_*.csv", "batch_size": 2, "num_epochs": 2,
                  "shuffle": False, "label_name": "label", "na_value": "NA",
                  "column_defaults": [[0.0], ["none"], [-1.0], [0]]}),
    ("selected", {"file_pattern": ["{dir}/part_b.csv", "{dir}/part_a.csv"], "batch_size": 4,
                  "num_epochs": 1, "shuffle": False, "select_columns": ["income", "age"],
                  "column_defaults": [[0.0], [0.0]]}),
    ("named", {"file_pattern": "{dir}/raw.csv", "batch_size": 2, "num_epochs": 1,
               "shuffle": False, "header": False, "label_name": "y",
               "column_names": ["a", "b", "y"], "column_defaults": [[0.0], ["?"], [0]]}),
    ("forever", {"file_pattern": "{dir}/part_a.csv", "batch_size": 3, "shuffle": False,
                 "label_name": "label", "column_defaults": [[0], [""], [0.0], [0]]}),
]

TF_READ = textwrap.dedent('''\
    import json, sys
    import numpy as np
    import tensorflow as tf
    spec = json.loads(sys.argv[1])
    out = {}
    for case, kwargs in spec["cases"]:
        ds = tf.data.experimental.make_csv_dataset(**kwargs).take(4)
        for b, batch in enumerate(ds):
            parts = batch if isinstance(batch, tuple) else (batch,)
            for j, part in enumerate(parts):
                items = part.items() if isinstance(part, dict) else [("", part)]
                for name, t in items:
                    a = t.numpy()
                    if a.dtype == object:
                        a = np.array([v.decode() for v in a])
                    out[f"{case}|{b}|{j}|{name}"] = [str(a.dtype), a.tolist()]
    print(json.dumps(out))
    ''')


def _write(folder: Path) -> Path:
    (folder / "part_a.csv").write_text(HEADER + "\n".join(ROWS_A) + "\n", encoding="utf-8")
    (folder / "part_b.csv").write_text(HEADER + "\n".join(ROWS_B) + "\n", encoding="utf-8")
    (folder / "raw.csv").write_text('1.5,"x, y",1\n2.5,,0\n-3,z,1\n', encoding="utf-8")
    return folder


def _cases(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    def fill(v: Any) -> Any:
        if isinstance(v, str):
            return v.format(dir=folder)
        return [fill(x) for x in v] if isinstance(v, list) and v and isinstance(v[0], str) \
            and "{dir}" in v[0] else v
    return [(case, {k: fill(v) for k, v in kwargs.items()}) for case, kwargs in CASES]


def _ours(folder: Path) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for case, kwargs in _cases(folder):
        for b, batch in enumerate(make_csv_dataset(**kwargs).take(4)):
            parts = batch if isinstance(batch, tuple) else (batch,)
            for j, part in enumerate(parts):
                items = part.items() if isinstance(part, dict) else [("", part)]
                for name, t in items:
                    a = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
                    dtype = "<U" if a.dtype.kind == "U" else str(a.dtype)
                    out[f"{case}|{b}|{j}|{name}"] = [dtype, a.tolist()]
    return out


def test_runtime_reader_batches_by_tfs_rules(tmp_path: Path) -> None:
    ours = _ours(_write(tmp_path))
    # inference (part_a): age int32, city string, income float32; empty fields take the
    # inferred defaults (0, "", 0.0)
    assert ours["inferred|0|0|age"] == ["int32", [31, 45, 27]]
    assert ours["inferred|0|0|city"] == ["<U", ["Oslo", "", "Lima"]]
    assert ours["inferred|1|0|income"] == ["float32", [2100.0]]
    # na_value and empty fields take the given defaults; the label leaves the features
    assert ours["labelled|0|0|city"] == ["<U", ["Oslo", "none"]]
    assert ours["labelled|0|0|income"] == ["float32", [1200.5, -1.0]]
    assert ours["labelled|0|1|"] == ["int32", [1, 0]]
    assert list(k for k in ours if k.startswith("labelled|0|0|")) == [
        "labelled|0|0|age", "labelled|0|0|city", "labelled|0|0|income"]
    # num_epochs=None repeats and drops the last partial batch
    assert [len(ours[f"forever|{b}|1|"][1]) for b in range(4)] == [3, 3, 3, 3]


def test_a_required_field_left_empty_fails_loudly(tmp_path: Path) -> None:
    _write(tmp_path)
    ds = make_csv_dataset(str(tmp_path / "part_a.csv"), 2, num_epochs=1, shuffle=False,
                          column_defaults=[[0], [""], [], [0]])  # income required
    with pytest.raises(ValueError, match="required"):
        list(ds)


def test_cast_to_string_keeps_strings_and_refuses_numbers() -> None:
    words = np.array(["a", "b"])
    assert strings_cast(words) is words and strings_cast("x") == "x"
    with pytest.raises(TypeError):
        strings_cast(np.array([1.0]))


def _tf() -> str:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    return python


@pytest.mark.tensorflow
def test_runtime_reader_gives_tensorflows_batches(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    done = subprocess.run([_tf(), "-c", TF_READ, json.dumps({"cases": _cases(folder)})],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                               "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours = _ours(folder)
    assert list(ours) == list(theirs)  # batches, parts and feature names in TF's order
    for key, (dtype, values) in theirs.items():
        want = "<U" if dtype.startswith("<U") else dtype
        assert ours[key][0] == want, (key, ours[key][0], dtype)
        assert ours[key][1] == values, key


# A tabular training script: CSV files read in batches, a map function that casts a column
# to string (a no-op TF allows) and stacks the numeric features, a small Keras model.
SCRIPT = textwrap.dedent('''\
    import os

    import tensorflow as tf
    from tensorflow import keras

    CSV_HEADER = ["age", "city", "income", "label"]
    COLUMN_DEFAULTS = [[0.0], ["NA"], [0.0], [0.0]]


    def process(features, target):
        features["city"] = tf.cast(features["city"], tf.dtypes.string)
        numeric = tf.stack([features["age"], features["income"] / 1000.0], axis=1)
        return numeric, target


    def build(pattern, batch_size=2):
        return tf.data.experimental.make_csv_dataset(
            pattern,
            batch_size=batch_size,
            column_names=CSV_HEADER,
            column_defaults=COLUMN_DEFAULTS,
            label_name="label",
            num_epochs=1,
            header=True,
            shuffle=False,
        ).map(process)


    if __name__ == "__main__":
        train = build(os.path.join(os.environ["CSV_DIR"], "part_*.csv"))
        model = keras.Sequential([keras.Input(shape=(2,)),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(train, epochs=1)
        print("FITTED")
    ''')

ELEMENTS = textwrap.dedent('''\
    import json, runpy, sys
    import numpy as np
    spec = json.loads(sys.argv[1])
    if spec["block"]:
        sys.modules.update(keras=None, tensorflow=None)
    ns = runpy.run_path(spec["script"])
    out = {}
    for b, (x, y) in enumerate(ns["build"](spec["pattern"])):
        out[f"{b}_x"], out[f"{b}_y"] = np.asarray(x), np.asarray(y)
    np.savez(spec["out"], **out)
    ''')


def _convert(tmp_path: Path) -> Path:
    result = convert_source(SCRIPT, "tabular.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(result.source))
                if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"keras", "tensorflow"}, imported
    assert 'features["city"] = strings_cast(features["city"])' in result.source
    script = tmp_path / "converted.py"
    script.write_text(result.source, encoding="utf-8")
    return script


def test_csv_training_script_converts_and_trains_without_tensorflow(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    (folder / "part_b.csv").write_text(HEADER + "38,Rome,1500.75,1\n", encoding="utf-8")
    script = _convert(tmp_path)
    run = run_without_tf(script.read_text(encoding="utf-8"), tmp_path, {"CSV_DIR": str(folder)})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "FITTED" in run.stdout


def _elements(python: str, script: Path, pattern: str, block: bool) -> dict[str, Any]:
    runner = script.parent / "elements.py"
    runner.write_text(ELEMENTS, encoding="utf-8")
    out = script.parent / f"{script.stem}_{int(block)}.npz"
    spec = json.dumps({"script": str(script), "pattern": pattern, "block": block,
                       "out": str(out)})
    done = subprocess.run([python, str(runner), spec], capture_output=True, text=True,
                          timeout=300, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
                               "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.tensorflow
def test_csv_training_pipeline_gives_tensorflows_batches(tmp_path: Path) -> None:
    python = _tf()
    folder = _write(tmp_path)
    (folder / "part_b.csv").write_text(HEADER + "38,Rome,1500.75,1\n", encoding="utf-8")
    pattern = str(folder / "part_*.csv")
    original = tmp_path / "original.py"
    original.write_text(SCRIPT, encoding="utf-8")
    theirs = _elements(python, original, pattern, block=False)
    ours = _elements(sys.executable, _convert(tmp_path), pattern, block=True)
    assert sorted(ours) == sorted(theirs) and len(theirs) == 6  # 5 rows in batches of 2
    for key, want in theirs.items():
        assert ours[key].dtype == want.dtype, (key, ours[key].dtype, want.dtype)
        np.testing.assert_allclose(ours[key], want, rtol=1e-6, err_msg=key)
