"""Keras's directory/array loaders and ImageDataGenerator against their converted forms
(agent/rules/training/runtime/keras_loaders.py), batch by batch.

The originals run as Keras runs them: ``*_dataset_from_directory`` and
``timeseries_dataset_from_array`` need tf.data, so they run under real TensorFlow in its own
process (``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``, ``make tf-venv``; else skip) on the same
files; ImageDataGenerator (Keras 3's legacy module, NumPy + SciPy) runs here on Keras's torch
backend. Nothing is compared with hand-written values: shapes, dtypes, labels,
class_names, file order and pixels all come from the original's own run.
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
import torch

from agent.rules.convert import convert_source
from agent.rules.training.runtime import keras_loaders as rt
from agent.tools.tf_original import tf_python

PIL = pytest.importorskip("PIL.Image")

# the original's side: each call's batches as arrays, plus class_names / file_paths
ORIGINAL = textwrap.dedent('''\
    import json, sys
    import numpy as np
    import keras
    spec = json.loads(sys.argv[1])
    out = {}
    for k, (fn, args, kwargs) in enumerate(spec["calls"]):
        ds = getattr(keras.utils, fn)(*args, **kwargs)
        for part, d in enumerate(ds if isinstance(ds, list) else [ds]):
            key = f"{k}_{part}"
            meta = {"class_names": getattr(d, "class_names", None),
                    "file_paths": getattr(d, "file_paths", None)}
            out[key + "_meta"] = np.array(json.dumps(meta))
            for b, batch in enumerate(d):
                batch = batch if isinstance(batch, tuple) else (batch,)
                for j, t in enumerate(batch):
                    a = t.numpy()
                    if a.dtype == object:  # tf strings: bytes, stored as str
                        a = np.array([s.decode("utf-8", "replace") for s in a.tolist()])
                    out[f"{key}_{b}_{j}"] = a
    np.savez(spec["out"], **out)
    ''')


def _original(tmp_path: Path, calls: list[tuple[str, list[Any], dict[str, Any]]]
              ) -> dict[str, Any]:
    made = os.environ.get("K2L_TEST_TF_PYTHON", "")
    python = made if made else tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    script = tmp_path / "original.py"
    script.write_text(ORIGINAL, encoding="utf-8")
    out = tmp_path / "original.npz"
    spec = json.dumps({"calls": calls, "out": str(out)})
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([python, str(script), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def _parts(original: dict[str, Any], k: int) -> list[tuple[dict[str, Any], list[list[Any]]]]:
    """Per returned dataset: (meta, batches as lists of arrays)."""
    parts = []
    part = 0
    while f"{k}_{part}_meta" in original:
        meta = json.loads(str(original[f"{k}_{part}_meta"]))
        batches: list[list[Any]] = []
        while f"{k}_{part}_{len(batches)}_0" in original:
            b = len(batches)
            batches.append([original[f"{k}_{part}_{b}_{j}"] for j in range(3)
                            if f"{k}_{part}_{b}_{j}" in original])
        parts.append((meta, batches))
        part += 1
    return parts


def _ours(fn: str, args: list[Any], kwargs: dict[str, Any]
          ) -> list[tuple[dict[str, Any], list[list[Any]]]]:
    made = getattr(rt, fn)(*args, **kwargs)
    out = []
    for d in made if isinstance(made, list) else [made]:
        meta = {"class_names": getattr(d, "class_names", None),
                "file_paths": getattr(d, "file_paths", None)}
        batches = [[np.asarray(t.numpy() if isinstance(t, torch.Tensor) else t) for t in
                    (b if isinstance(b, tuple) else (b,))] for b in d]
        out.append((meta, batches))
    return out


def _same_batches(theirs: list[list[Any]], ours: list[list[Any]], atol: float) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(theirs, ours, strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert y.shape == x.shape
            if x.dtype.kind == "U":  # texts
                assert y.tolist() == x.tolist()
                continue
            assert y.dtype == x.dtype, (x.dtype, y.dtype)
            np.testing.assert_allclose(y.astype(np.float64), x.astype(np.float64), atol=atol)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """3 classes of RGB PNGs of mixed sizes, plus files and folders Keras skips."""
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cats", "dogs", "eels")):
        (root / name).mkdir(parents=True)
        for k in range(5 + c):
            h, w = 9 + 3 * k, 13 + 2 * c
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            PIL.fromarray(pixels).save(root / name / f"img{k}.png")
        (root / name / "notes.txt").write_text("not an image", encoding="utf-8")
    (root / ".hidden").mkdir()
    PIL.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / ".hidden" / "x.png")
    return root


@pytest.fixture
def texts(tmp_path: Path) -> Path:
    root = tmp_path / "texts"
    for c, name in enumerate(("neg", "pos")):
        (root / name).mkdir(parents=True)
        for k in range(4 + c):
            (root / name / f"t{k}.txt").write_text(f"{name} review {k} " + "é" * k,
                                                   encoding="utf-8")
    return root


def _relative(meta: dict[str, Any], root: Path) -> dict[str, Any]:
    paths = meta["file_paths"]
    return {**meta, "file_paths": None if paths is None else
            [os.path.relpath(p, root) for p in paths]}


@pytest.mark.tensorflow
def test_image_dataset_from_directory_matches_keras(tmp_path: Path, photos: Path) -> None:
    d = str(photos)
    calls: list[tuple[str, list[Any], dict[str, Any]]] = [
        ("image_dataset_from_directory", [d], {"shuffle": False}),  # every default else
        ("image_dataset_from_directory", [d], {"shuffle": False, "image_size": (7, 5),
                                               "batch_size": 4, "label_mode": "categorical"}),
        ("image_dataset_from_directory", [d], {"shuffle": False, "image_size": (12, 12),
                                               "interpolation": "nearest",
                                               "class_names": ["eels", "cats"]}),
        ("image_dataset_from_directory", [d], {"image_size": (8, 8), "batch_size": 5,
                                               "validation_split": 0.25, "subset": "both",
                                               "seed": 7}),
    ]
    original = _original(tmp_path, calls)
    for k, (fn, args, kwargs) in enumerate(calls):
        theirs, ours = _parts(original, k), _ours(fn, args, kwargs)
        assert len(ours) == len(theirs)
        for (tmeta, tb), (ometa, ob) in zip(theirs, ours, strict=True):
            # the same classes, files and split (Keras's seeded index shuffle)
            assert _relative(ometa, photos) == _relative(tmeta, photos)
            if kwargs.get("shuffle", True) and ometa is ours[0][0]:
                # the training part is shuffled through a buffer: the same samples, by file
                images = np.concatenate([b[0] for b in ob])
                labels = np.concatenate([b[1] for b in ob])
                their_images = np.concatenate([b[0] for b in tb])
                their_labels = np.concatenate([b[1] for b in tb])
                assert [len(b[0]) for b in ob] == [len(b[0]) for b in tb]
                order = np.argsort(images.reshape(len(images), -1).sum(1))
                their_order = np.argsort(their_images.reshape(len(images), -1).sum(1))
                np.testing.assert_allclose(images[order], their_images[their_order],
                                           atol=1e-3)
                assert (labels[order] == their_labels[their_order]).all()
            else:
                _same_batches(tb, ob, atol=1e-3)


@pytest.mark.tensorflow
def test_text_dataset_from_directory_matches_keras(tmp_path: Path, texts: Path) -> None:
    d = str(texts)
    calls: list[tuple[str, list[Any], dict[str, Any]]] = [
        ("text_dataset_from_directory", [d], {"shuffle": False}),
        ("text_dataset_from_directory", [d], {"shuffle": False, "batch_size": 3,
                                              "max_length": 6, "label_mode": "binary"}),
        ("text_dataset_from_directory", [d], {"batch_size": 2, "validation_split": 0.3,
                                              "subset": "validation", "seed": 3}),
    ]
    original = _original(tmp_path, calls)
    for k, (fn, args, kwargs) in enumerate(calls):
        theirs, ours = _parts(original, k), _ours(fn, args, kwargs)
        assert [m["class_names"] for m, _ in ours] == [m["class_names"] for m, _ in theirs]
        for (_, tb), (_, ob) in zip(theirs, ours, strict=True):
            _same_batches(tb, ob, atol=0)


@pytest.mark.tensorflow
def test_timeseries_dataset_from_array_matches_keras(tmp_path: Path) -> None:
    data = np.random.default_rng(1).normal(size=(40, 3)).astype("float32")
    targets = np.arange(40)
    calls: list[tuple[str, list[Any], dict[str, Any]]] = [
        ("timeseries_dataset_from_array", [data.tolist(), None], {"sequence_length": 6}),
        ("timeseries_dataset_from_array", [data.tolist(), targets.tolist()],
         {"sequence_length": 4, "sequence_stride": 3, "sampling_rate": 2, "batch_size": 5,
          "start_index": 2, "end_index": 35}),
        ("timeseries_dataset_from_array", [data.tolist(), targets[3:].tolist()],
         {"sequence_length": 3, "batch_size": 4}),
    ]
    original = _original(tmp_path, calls)
    for k, (fn, args, kwargs) in enumerate(calls):
        (_, tb), = _parts(original, k)
        (_, ob), = _ours(fn, [np.asarray(a, dtype=np.float32) if j == 0 else
                              (None if a is None else np.asarray(a)) for j, a in
                              enumerate(args)], kwargs)
        # tf.data keeps int64 targets; float data is float32 on both sides
        _same_batches([[b[0], *(t.astype(np.int64) for t in b[1:])] for b in tb], ob, atol=0)


def test_timeseries_shuffle_keeps_the_windows_of_keras_order() -> None:
    """shuffle=True: Keras shuffles the start positions with RandomState(seed) first; the
    windows a batch can hold are the same, only the buffer's draw differs."""
    data = np.arange(30, dtype=np.float32)[:, None]
    plain = [b.numpy() for b in rt.timeseries_dataset_from_array(data, None, 4, batch_size=None)]
    mixed = [b.numpy() for b in rt.timeseries_dataset_from_array(data, None, 4, batch_size=None,
                                                                 shuffle=True, seed=5)]
    assert sorted(m[0, 0] for m in mixed) == sorted(p[0, 0] for p in plain)
    assert [m[0, 0] for m in mixed] != [p[0, 0] for p in plain]


# ---- ImageDataGenerator: Keras 3's legacy implementation, on the torch backend -----------


def _legacy() -> Any:
    pytest.importorskip("scipy")
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "torch"
    from keras.src.legacy.preprocessing import image

    return image


AUGMENT = {"rescale": 1.0 / 255, "rotation_range": 25, "width_shift_range": 0.15,
           "height_shift_range": 3, "zoom_range": 0.2, "shear_range": 10,
           "horizontal_flip": True, "vertical_flip": True}


@pytest.mark.parametrize("fill", [{"fill_mode": "nearest"},
                                  {"fill_mode": "constant", "cval": 7.0},
                                  {"fill_mode": "reflect"}])
def test_image_data_generator_flow_matches_keras(fill: dict[str, Any]) -> None:
    image = _legacy()
    x = np.random.default_rng(2).uniform(0, 255, size=(10, 11, 9, 3)).astype("float32")
    y = np.arange(10) % 3
    kwargs = {**AUGMENT, **fill, "validation_split": 0.3}
    for subset in ("training", "validation"):
        theirs = image.ImageDataGenerator(**kwargs).flow(x, y, batch_size=4, seed=11,
                                                         subset=subset)
        ours = rt.ImageDataGenerator(**kwargs).flow(x, y, batch_size=4, seed=11, subset=subset)
        assert len(ours) == len(theirs)
        for _epoch in range(2):  # the second epoch reshuffles, as Keras's on_epoch_end
            for k in range(len(theirs)):
                ox, oy = ours[k]  # first: a new epoch's reshuffle reads the saved state
                tx, ty = theirs[k]
                assert ox.dtype == torch.float32 and tuple(ox.shape) == tx.shape
                np.testing.assert_allclose(ox.numpy(), tx, atol=1e-4)
                assert (oy.numpy() == ty).all()
            # Keras's fit calls on_epoch_end; ours reshuffles at its next batch, from the
            # same NumPy state (the two share the global stream here, so it is put back)
            state = np.random.get_state()
            theirs.on_epoch_end()
            np.random.set_state(state)


def test_image_data_generator_flow_from_directory_matches_keras(photos: Path) -> None:
    image = _legacy()
    for subset in ("training", "validation"):
        for mode in ("categorical", "binary", "sparse", None):
            kwargs = {"rescale": 1.0 / 255, "horizontal_flip": True, "rotation_range": 15,
                      "validation_split": 0.4}
            args = {"target_size": (10, 8), "batch_size": 3, "seed": 4, "subset": subset,
                    "class_mode": mode}
            if mode == "binary":
                args["classes"] = ["cats", "dogs"]
            theirs = image.ImageDataGenerator(**kwargs).flow_from_directory(str(photos), **args)
            ours = rt.ImageDataGenerator(**kwargs).flow_from_directory(str(photos), **args)
            assert ours.class_indices == theirs.class_indices
            assert ours.filenames == theirs.filenames
            assert (ours.classes == theirs.classes).all()
            assert len(ours) == len(theirs)
            for k in range(len(theirs)):
                t, o = theirs[k], ours[k]
                t, o = (t, o) if isinstance(t, tuple) else ((t,), (o,))
                for a, b in zip(t, o, strict=True):
                    assert b.dtype == torch.float32
                    np.testing.assert_allclose(b.numpy(), a, atol=1e-4)


def test_image_data_generator_iterates_like_keras_next() -> None:
    """``next(it)`` / ``for batch in it``: endless, seeded per batch as Keras's _flow_index."""
    image = _legacy()
    x = np.random.default_rng(3).uniform(0, 255, size=(5, 6, 6, 1)).astype("float32")
    theirs = image.ImageDataGenerator(horizontal_flip=True, zoom_range=0.3).flow(
        x, batch_size=2, seed=1)
    ours = iter(rt.ImageDataGenerator(horizontal_flip=True, zoom_range=0.3).flow(
        x, batch_size=2, seed=1))
    for _ in range(7):  # past the end of the first epoch
        np.testing.assert_allclose(next(ours).numpy(), next(theirs), atol=1e-4)


# ---- the rules: scripts that use the loaders convert, and need no Keras ----------------

SCRIPT = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    DATA = "photos"
    train_ds = keras.utils.image_dataset_from_directory(
        DATA, validation_split=0.2, subset="training", seed=1, image_size=(16, 16),
        batch_size=4)
    val_ds = tf.keras.preprocessing.image_dataset_from_directory(
        DATA, validation_split=0.2, subset="validation", seed=1, image_size=(16, 16),
        batch_size=4)
    names = train_ds.class_names
    series = keras.utils.timeseries_dataset_from_array(np.zeros((20, 2)), None, 3)
    texts = keras.utils.text_dataset_from_directory("texts")
    augment = ImageDataGenerator(rescale=1.0 / 255, horizontal_flip=True)
    flowing = augment.flow_from_directory(DATA, target_size=(16, 16), class_mode="sparse",
                                          classes=["cats", "dogs", "eels"])

    model = keras.Sequential([
        keras.Input(shape=(16, 16, 3)),
        keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train_ds.prefetch(tf.data.AUTOTUNE), validation_data=val_ds, epochs=1)
    model.fit(flowing, epochs=1)
    ''')


def test_a_script_with_loaders_converts_and_runs_without_keras(tmp_path: Path, photos: Path,
                                                               texts: Path) -> None:
    result = convert_source(SCRIPT, "train.py")
    assert not result.error and not result.unmapped, result.unmapped
    code = result.source
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(code))
                if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(ast.parse(code))
                 if isinstance(n, ast.ImportFrom)}
    assert not imported & {"keras", "tensorflow"}, imported
    for name in ("image_dataset_from_directory(", "timeseries_dataset_from_array(",
                 "text_dataset_from_directory(", "ImageDataGenerator(",
                 "DataLoader(train_ds.prefetch(AUTOTUNE), batch_size=None)",
                 "DataLoader(flowing, batch_size=None, shuffle=True)"):
        assert name in code, name
    script = tmp_path / "train.py"
    script.write_text(code.replace("max_epochs=1", "max_epochs=1, fast_dev_run=True"),
                      encoding="utf-8")
    run = ("import runpy, sys; sys.modules.update(keras=None, tensorflow=None); "
           "runpy.run_path('train.py', run_name='__main__')")  # Keras cannot be imported
    done = subprocess.run([sys.executable, "-c", run], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]


def test_arguments_the_converted_loaders_do_not_reproduce_keep_keras_and_are_reported() -> None:
    source = textwrap.dedent('''\
        from tensorflow import keras
        from tensorflow.keras.preprocessing.image import ImageDataGenerator

        kept = keras.utils.image_dataset_from_directory("d", crop_to_aspect_ratio=True)
        also = ImageDataGenerator(featurewise_center=True, rescale=1 / 255)
        done = keras.utils.image_dataset_from_directory("d", interpolation="nearest")
        ''')
    result = convert_source(source, "loaders.py")
    assert "kept = keras.utils.image_dataset_from_directory(" in result.source
    assert "also = ImageDataGenerator(featurewise_center=True" in result.source
    assert "done = image_dataset_from_directory(" in result.source
    reasons = {(u.line, u.keras_name): u.reason for u in result.unmapped}
    assert set(reasons) == {(4, "keras.utils.image_dataset_from_directory"),
                            (5, "keras.preprocessing.image.ImageDataGenerator")}, reasons
    assert "crop_to_aspect_ratio=True" in reasons[(4, "keras.utils.image_dataset_from_directory")]
