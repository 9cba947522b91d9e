"""Keras data utilities → inlined NumPy functions (agent/rules/training/utilities.py).

Numbers come from Keras 3 itself: each runtime function is compared with the Keras function
it replaces on the same input (dataset loaders on the same small fake archive), and a
converted script is run end to end in a process where keras and tensorflow cannot be
imported.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.rules.convert import convert_source
from agent.rules.training.runtime import keras_data as rt

FRAMEWORKS = ("keras", "tensorflow", "tf_keras")
BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")


def _framework_imports(code: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in FRAMEWORKS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FRAMEWORKS:
            found.append(str(node.module))
    return found


@pytest.mark.parametrize("kwargs", [
    {},
    {"maxlen": 3},
    {"maxlen": 3, "padding": "post", "truncating": "post"},
    {"maxlen": 6, "value": -1, "dtype": "float32"},
])
def test_pad_sequences_matches_keras(kwargs: dict[str, Any]) -> None:
    import keras

    seqs = [[1, 2, 3, 4, 5], [6], [], [7, 8]]
    want = keras.utils.pad_sequences(seqs, **kwargs)
    got = rt.pad_sequences(seqs, **kwargs)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("labels,num_classes", [
    ([0, 2, 1, 2], None), ([[1], [0], [3]], 5), ([[0, 1], [2, 1]], 3)])
def test_to_categorical_matches_keras(labels: list[Any], num_classes: int | None) -> None:
    import keras

    want = keras.utils.to_categorical(np.array(labels), num_classes)
    got = rt.to_categorical(np.array(labels), num_classes)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_image_helpers_match_keras(tmp_path: Path) -> None:
    import keras

    Image = pytest.importorskip("PIL.Image")

    pixels = np.random.default_rng(0).integers(0, 256, (13, 17, 3)).astype("uint8")
    path = tmp_path / "img.png"
    Image.fromarray(pixels).save(path)
    for kwargs in ({}, {"target_size": (8, 5)}, {"target_size": (8, 5), "interpolation":
                                                 "bilinear"}, {"color_mode": "grayscale"},
                   {"target_size": (6, 6), "keep_aspect_ratio": True}):
        want = keras.utils.img_to_array(keras.utils.load_img(str(path), **kwargs))
        got = rt.img_to_array(rt.load_img(str(path), **kwargs))
        np.testing.assert_array_equal(got, want)
    arr = np.random.default_rng(1).normal(size=(5, 4, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(rt.array_to_img(arr)),
                                  np.asarray(keras.utils.array_to_img(arr)))
    rt.save_img(str(tmp_path / "out.jpg"), arr)
    assert Image.open(tmp_path / "out.jpg").size == (4, 5)


def _ragged(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty(n, dtype="object")
    out[:] = [[int(v) for v in rng.integers(1, 40, rng.integers(1, 12))] for _ in range(n)]
    return out


@pytest.mark.parametrize("kwargs", [{}, {"num_words": 20, "skip_top": 2, "maxlen": 9},
                                    {"num_words": 15, "oov_char": None, "start_char": None}])
def test_imdb_and_reuters_loaders_match_keras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              kwargs: dict[str, Any]) -> None:
    """Same fake archive through Keras's loader and ours: same shuffle, indices, cuts."""
    from keras.src.datasets import imdb, reuters

    rng = np.random.default_rng(3)
    imdb_file, reuters_file = tmp_path / "imdb.npz", tmp_path / "reuters.npz"
    np.savez(imdb_file, x_train=_ragged(rng, 30), y_train=rng.integers(0, 2, 30),
             x_test=_ragged(rng, 20), y_test=rng.integers(0, 2, 20))
    np.savez(reuters_file, x=_ragged(rng, 40), y=rng.integers(0, 5, 40))
    files = {"imdb.npz": str(imdb_file), "reuters.npz": str(reuters_file)}

    def fake_get_file(fname: str | None = None, *args: object, **kw: object) -> str:
        return files[str(fname)]

    for module in (imdb, reuters, rt):
        monkeypatch.setattr(module, "get_file", fake_get_file)
    pairs = [(imdb.load_data(**kwargs), rt.load_imdb(**kwargs)),
             (reuters.load_data(**kwargs), rt.load_reuters(**kwargs))]
    for want, got in pairs:
        for (wx, wy), (gx, gy) in zip(want, got, strict=True):
            assert [list(s) for s in gx] == [list(s) for s in wx]
            np.testing.assert_array_equal(gy, wy)


def test_mnist_and_boston_loaders_match_keras(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from keras.src.datasets import boston_housing, mnist

    rng = np.random.default_rng(4)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 255, (6, 28, 28), dtype="uint8"),
             y_train=rng.integers(0, 10, 6, dtype="uint8"),
             x_test=rng.integers(0, 255, (3, 28, 28), dtype="uint8"),
             y_test=rng.integers(0, 10, 3, dtype="uint8"))
    np.savez(tmp_path / "boston_housing.npz", x=rng.normal(size=(21, 13)), y=rng.normal(size=21))

    def fake_get_file(fname: str | None = None, *args: object, **kw: object) -> str:
        return str(tmp_path / str(fname))

    for module in (mnist, boston_housing, rt):
        monkeypatch.setattr(module, "get_file", fake_get_file)
    for want, got in ((mnist.load_data(), rt.load_mnist()),
                      (boston_housing.load_data(test_split=0.3), rt.load_boston_housing(
                          test_split=0.3))):
        for w, g in zip(want, got, strict=True):
            np.testing.assert_array_equal(g[0], w[0])
            np.testing.assert_array_equal(g[1], w[1])


def test_get_file_caches_and_extracts(tmp_path: Path) -> None:
    import tarfile

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("hello")
    with tarfile.open(tmp_path / "data.tar.gz", "w:gz") as tar:
        tar.add(src / "a.txt", arcname="a.txt")
    cache = str(tmp_path / "cache")
    plain = rt.get_file("a.txt", (src / "a.txt").as_uri(), cache_dir=cache)
    assert Path(plain).read_text() == "hello" and plain.startswith(cache)
    folder = rt.get_file("data.tar.gz", (tmp_path / "data.tar.gz").as_uri(), extract=True,
                         cache_dir=cache)
    assert folder.endswith("data_extracted") and (Path(folder) / "a.txt").read_text() == "hello"
    with pytest.raises(ValueError):
        rt.get_file("b.txt", (src / "a.txt").as_uri(), cache_dir=cache, file_hash="0" * 64)


def test_conversion_inlines_the_helpers_and_drops_keras() -> None:
    src = textwrap.dedent("""\
        import numpy as np
        from tensorflow import keras
        from keras.datasets import mnist
        from keras.utils import to_categorical
        from keras.preprocessing import sequence

        (x_train, y_train), (x_test, y_test) = mnist.load_data()
        y_train = to_categorical(y_train, 10)
        x = sequence.pad_sequences([[1, 2]], maxlen=4)
        word_index = keras.datasets.imdb.get_word_index()
        """)
    res = convert_source(src)
    assert res.keras_deps == [] and not _framework_imports(res.source)
    for name in ("load_mnist", "to_categorical", "pad_sequences", "imdb_word_index",
                 "get_file", "_hash_matches"):
        assert f"\ndef {name}(" in res.source, name
    assert "def load_imdb(" not in res.source  # only what the script uses
    assert "(x_train, y_train), (x_test, y_test) = load_mnist()" in res.source
    assert "x = pad_sequences([[1, 2]], maxlen=4)" in res.source
    assert {c.rule for c in res.changes} >= {"data.load_mnist", "data.to_categorical"}


def test_a_name_the_script_defines_is_not_shadowed() -> None:
    src = textwrap.dedent("""\
        import keras

        def get_file(name):
            return name

        path = keras.utils.get_file("a.csv", "http://example.com/a.csv")
        """)
    res = convert_source(src)
    assert "keras.utils.get_file" in res.source and res.source.count("def get_file") == 1
    assert [d.name for d in res.keras_deps] == ["keras.utils.get_file"]


def test_converted_script_trains_without_keras_or_tensorflow(tmp_path: Path) -> None:
    """Download (a file:// URL), pad, one-hot, fit: the converted script needs neither."""
    rng = np.random.default_rng(5)
    data = tmp_path / "data.npz"
    x = np.empty(40, dtype="object")
    x[:] = [[int(v) for v in rng.integers(1, 50, rng.integers(2, 15))] for _ in range(40)]
    np.savez(data, x=x, y=rng.integers(0, 3, 40))
    src = textwrap.dedent(f"""\
        import numpy as np
        from tensorflow import keras
        from tensorflow.keras.preprocessing.sequence import pad_sequences

        path = keras.utils.get_file("data.npz", origin={data.as_uri()!r})
        with np.load(path, allow_pickle=True) as f:
            x, y = f["x"], f["y"]
        x = pad_sequences(x, maxlen=12)
        y = keras.utils.to_categorical(y, 3)
        model = keras.Sequential([
            keras.Input(shape=(12,)),
            keras.layers.Embedding(50, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(3, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=8, epochs=2)
        print("DONE", x.shape, y.shape)
        """)
    res = convert_source(src)
    assert res.keras_deps == [], res.keras_deps
    script = tmp_path / "train.py"
    script.write_text(res.source)
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1", "KERAS_HOME": str(tmp_path / "kh")}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "DONE (40, 12) (40, 3)" in run.stdout
    assert "fast_dev_run" in run.stdout + run.stderr


def _pipeline() -> Any:
    from agent.rules.training.runtime.data_pipeline import DataPipeline
    return DataPipeline


def _values(ds: Any) -> list[Any]:
    out = []
    for e in ds:
        if isinstance(e, tuple):
            out.append(tuple(v.tolist() for v in e))
        elif isinstance(e, dict):
            out.append({k: v.tolist() for k, v in e.items()})
        else:
            out.append(e.tolist())
    return out


def test_data_pipeline_follows_tf_data_semantics() -> None:
    """What tf.data's documentation gives for each method, on small ranges."""
    P = _pipeline()
    ds = P.from_tensor_slices(np.arange(10))
    assert _values(ds.batch(4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert _values(ds.batch(4, drop_remainder=True)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(ds.batch(4)) == 3 and len(ds.batch(4, drop_remainder=True)) == 2
    assert _values(ds.take(3)) == [0, 1, 2] and _values(ds.skip(8)) == [8, 9]
    assert _values(ds.take(2).repeat(2)) == [0, 1, 0, 1] and len(ds.take(2).repeat(3)) == 6
    assert _values(ds.batch(3).unbatch()) == list(range(10))
    assert _values(ds.filter(lambda v: v % 3 == 0)) == [0, 3, 6, 9]
    assert _values(ds.take(2).enumerate(5)) == [(5, 0), (6, 1)]
    assert _values(ds.take(2).concatenate(ds.skip(9))) == [0, 1, 9]
    pairs = P.from_tensor_slices((np.arange(3), np.arange(3) * 10)).map(lambda a, b: (b, a))
    assert _values(pairs) == [(0, 0), (10, 1), (20, 2)]  # tuple elements unpacked into args
    zipped = P.zip((P.from_tensor_slices(np.arange(3)), P.range(10, 12)))
    assert _values(zipped) == [(0, 10), (1, 11)] and len(zipped) == 2
    named = P.from_tensor_slices({"a": np.arange(4), "b": np.ones(4)}).batch(2)
    assert _values(named) == [{"a": [0, 1], "b": [1.0, 1.0]}, {"a": [2, 3], "b": [1.0, 1.0]}]
    assert next(iter(named))["b"].dtype == torch_float32()  # float64 arrays become float32
    gen = P.from_generator(lambda: ((k, k * k) for k in range(3)), output_signature=None)
    assert _values(gen.batch(2)) == [([0, 1], [0, 1]), ([2], [4])]
    assert list(ds.take(2).as_numpy_iterator()) == [0, 1]


def torch_float32() -> Any:
    import torch
    return torch.float32


def test_data_pipeline_shuffle_and_cache() -> None:
    P = _pipeline()
    ds = P.from_tensor_slices(np.arange(50))
    assert _values(ds.shuffle(1)) == list(range(50))  # a buffer of one keeps the order
    once, twice = _values(ds.shuffle(50, seed=1)), _values(ds.shuffle(50, seed=1))
    assert sorted(once) == list(range(50)) and once == twice and once != list(range(50))
    fixed = ds.shuffle(50, seed=2, reshuffle_each_iteration=False)
    assert _values(fixed) == _values(fixed)
    reshuffled = ds.shuffle(50, seed=2)
    assert _values(reshuffled) != _values(reshuffled)
    calls = []
    cached = ds.take(3).map(lambda v: calls.append(1) or v).cache()
    assert _values(cached) == _values(cached) == [0, 1, 2] and len(calls) == 3


def test_tf_data_pipeline_script_trains_without_tensorflow(tmp_path: Path) -> None:
    """from_tensor_slices → shuffle → map → batch → prefetch, split over statements, fed to
    fit(): converted to a DataPipeline that Lightning iterates; no TF in the process."""
    src = textwrap.dedent("""\
        import numpy as np
        import tensorflow as tf
        from tensorflow import keras

        AUTO = tf.data.AUTOTUNE


        def scale(x, y):
            return x * 2.0, y


        x = np.random.rand(100, 8).astype("float32")
        y = np.random.randint(0, 3, 100)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shuffle(64).map(scale, num_parallel_calls=AUTO)
        ds = ds.batch(16).prefetch(AUTO)
        val = tf.data.Dataset.from_tensor_slices((x[:20], y[:20])).batch(10).cache()
        model = keras.Sequential([keras.Input(shape=(8,)),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(ds, epochs=2, validation_data=val)
        print("DONE", len(ds))
        """)
    res = convert_source(src)
    assert res.keras_deps == [] and not _framework_imports(res.source), res.keras_deps
    assert "ds = DataPipeline.from_tensor_slices((x, y))" in res.source
    assert "DataLoader(ds, batch_size=None)" in res.source
    assert "TODO(k2l)" not in res.source
    script = tmp_path / "train.py"
    script.write_text(res.source)
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path,
                         env={**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "DONE 7" in run.stdout and "fast_dev_run" in run.stdout + run.stderr


def test_a_shuffle_over_every_sample_stays_a_dataloader() -> None:
    """shuffle(len(x)) is a full shuffle: the idiomatic DataLoader(shuffle=True) is exact;
    a smaller buffer is not, and becomes a DataPipeline."""
    src = textwrap.dedent("""\
        import numpy as np
        import tensorflow as tf
        from tensorflow import keras

        x = np.zeros((8, 4), "float32"); y = np.zeros((8, 1), "float32")
        full = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(4)
        part = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(3).batch(4)
        model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(full, validation_data=part)
        """)
    res = convert_source(src)
    unwrapped = re.sub(r"\(\s+", "(", res.source)  # generated lines wrap at 100 columns
    assert "full = DataLoader(TensorDataset(" in unwrapped and "shuffle=True" in unwrapped
    assert "part = DataPipeline.from_tensor_slices((x, y)).shuffle(3).batch(4)" in res.source
    assert "val_loader = DataLoader(part, batch_size=None)" in res.source
    assert not any("shuffle" in w.message for w in res.warnings)


def test_runtime_functions_are_copied_with_their_decorators() -> None:
    """A runtime function copied without its ``@functools.cache`` left an unused import in
    every script and rebuilt its table per call (``activation_name_of`` compares by identity)."""
    from agent.rules.training.utilities import RUNTIME, _runtime

    copied = _runtime().functions
    decorated = 0
    for path in RUNTIME:
        for node in ast.parse(path.read_text("utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.decorator_list:
                decorated += 1
                assert copied[node.name].startswith("@"), node.name
    assert decorated >= 2  # keras_getters' table, tfrecord_write's CRC table
    code = convert_source(textwrap.dedent("""\
        import keras
        from keras import layers

        class Scaled(layers.Layer):
            def __init__(self, activation=None):
                super().__init__()
                self.activation = keras.activations.get(activation)

            def call(self, x):
                return self.activation(x) * 2.0

        model = keras.Sequential([keras.Input((3,)), Scaled("softmax"), layers.Dense(1)])
        """)).source
    assert "@functools.cache\ndef _activation_table" in code
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F401", "-"],
                          input=code, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
