"""A segmentation script whose tf.data pipeline reads image files (issue 10, file I/O in
pipelines): paths from a folder, ``.map(load_data)`` reading JPEG images and PNG masks with
``tf.io.read_file``/``decode_jpeg``/``decode_png``, ``set_shape``, ``convert_image_dtype``
and ``resize`` (bilinear for images, nearest for masks), a small CNN and ``fit``.

The converted script runs where Keras and TensorFlow cannot be imported (one fast_dev_run
batch), and its pipeline gives the elements TensorFlow's gives (run by real TensorFlow in its
own process, ``K2L_TEST_TF_PYTHON`` / ``K2L_TF_PYTHON``; else that test skips): masks exactly,
images within a few levels, since TF's default JPEG IDCT (libjpeg's fast integer one) rounds
differently from Pillow's accurate one.
"""

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
from without_tf import run_without_tf

from agent.rules.convert import convert_source
from agent.tools.tf_original import tf_python

PIL = pytest.importorskip("PIL.Image")

SCRIPT = textwrap.dedent('''\
    import os
    from glob import glob

    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    IMAGE_SIZE = 16
    BATCH_SIZE = 3
    NUM_CLASSES = 3
    DATA_DIR = os.environ.get("IMAGE_DIR", "images")


    def read_image(image_path, mask=False):
        image = tf.io.read_file(image_path)
        if mask:
            image = tf.image.decode_png(image, channels=1)
            image.set_shape([None, None, 1])
            image = tf.image.resize(images=image, size=[IMAGE_SIZE, IMAGE_SIZE], method="nearest")
        else:
            image = tf.image.decode_jpeg(image, channels=3)
            image.set_shape([None, None, 3])
            image = tf.image.convert_image_dtype(image, tf.float32)
            image = tf.image.resize(images=image, size=[IMAGE_SIZE, IMAGE_SIZE])
        return image


    def load_data(image_list, mask_list):
        image = read_image(image_list)
        mask = read_image(mask_list, mask=True)
        return image, mask


    def data_generator(image_list, mask_list):
        dataset = tf.data.Dataset.from_tensor_slices((image_list, mask_list))
        dataset = dataset.map(load_data, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = dataset.batch(BATCH_SIZE, drop_remainder=True)
        return dataset


    if __name__ == "__main__":
        train_images = sorted(glob(os.path.join(DATA_DIR, "img_*.jpg")))
        train_masks = sorted(glob(os.path.join(DATA_DIR, "mask_*.png")))
        train_dataset = data_generator(train_images, train_masks)

        model_input = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
        x = layers.Conv2D(8, 3, padding="same", activation="relu")(model_input)
        model_output = layers.Conv2D(NUM_CLASSES, kernel_size=(1, 1), padding="same")(x)
        model = keras.Model(inputs=model_input, outputs=model_output)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss=loss)
        history = model.fit(train_dataset, epochs=1)
        print("FITTED", sorted(history.history))

        for images, masks in train_dataset.take(1):
            shown = tf.image.convert_image_dtype(images[0], tf.uint8).numpy()
            print("SHOWN", shown.shape, shown.dtype, tuple(masks.shape))
    ''')

ELEMENTS = textwrap.dedent('''\
    import json, runpy, sys
    import numpy as np
    spec = json.loads(sys.argv[1])
    if spec["block"]:
        sys.modules.update(keras=None, tensorflow=None)
    ns = runpy.run_path(spec["script"])
    out = {}
    for b, batch in enumerate(ns["data_generator"](spec["images"], spec["masks"])):
        for j, t in enumerate(batch):
            out[f"{b}_{j}"] = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    np.savez(spec["out"], **out)
    ''')


def _write_images(folder: Path, count: int = 7) -> tuple[list[str], list[str]]:
    """Smooth RGB pictures as JPEG (sizes differ: resize brings them to one) and class
    masks as one-channel PNG."""
    folder.mkdir()
    images, masks = [], []
    for k in range(count):
        h, w = 20 + 2 * k, 18 + k
        yy, xx = np.mgrid[0:h, 0:w]
        rgb = np.stack([yy * 9 + k, xx * 11, (yy + xx) * 5], -1).clip(0, 255).astype(np.uint8)
        images.append(str(folder / f"img_{k}.jpg"))
        PIL.fromarray(rgb).save(images[-1], quality=92)
        masks.append(str(folder / f"mask_{k}.png"))
        PIL.fromarray(((yy // 4 + xx // 5 + k) % 3).astype(np.uint8)).save(masks[-1])
    return images, masks


def _convert(tmp_path: Path) -> Path:
    result = convert_source(SCRIPT, "segment.py", main_guard=True)
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(result.source))
                if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(ast.parse(result.source))
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"keras", "tensorflow"}, imported
    assert "set_shape(image, [None, None, 3])" in result.source  # TF's check, kept
    script = tmp_path / "converted.py"
    script.write_text(result.source, encoding="utf-8")
    return script


def test_image_file_pipeline_converts_and_trains_without_tensorflow(tmp_path: Path) -> None:
    _write_images(tmp_path / "images")
    script = _convert(tmp_path)
    run = run_without_tf(script.read_text(encoding="utf-8"), tmp_path,
                         {"IMAGE_DIR": str(tmp_path / "images")})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "FITTED ['loss']" in run.stdout
    assert "SHOWN (16, 16, 3) uint8 (3, 16, 16, 1)" in run.stdout


def test_set_shape_keeps_tensorflows_check() -> None:
    ns: dict[str, object] = {}
    source = (Path(__file__).parent.parent / "agent/rules/training/runtime/tensor_ops.py")
    exec(compile(source.read_text("utf-8"), str(source), "exec"), ns)  # noqa: S102 - ours
    set_shape = ns["set_shape"]
    assert callable(set_shape)
    import torch

    set_shape(torch.zeros(4, 5, 3), [None, 5, 3])  # compatible: nothing happens
    with pytest.raises(ValueError, match="not compatible"):
        set_shape(torch.zeros(4, 5, 3), [None, None, 1])
    with pytest.raises(ValueError, match="not compatible"):
        set_shape(torch.zeros(4, 5), [None, None, 1])


def _elements(python: str, script: Path, images: list[str], masks: list[str], block: bool
              ) -> dict[str, np.ndarray]:
    runner = script.parent / "elements.py"
    runner.write_text(ELEMENTS, encoding="utf-8")
    out = script.parent / f"{script.stem}_{int(block)}.npz"
    spec = json.dumps({"script": str(script), "images": images, "masks": masks,
                       "block": block, "out": str(out)})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": "",
           "CUDA_VISIBLE_DEVICES": "", "KERAS_BACKEND": "tensorflow"}  # the original imports keras
    done = subprocess.run([python, str(runner), spec], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.tensorflow
def test_image_file_pipeline_gives_tensorflows_elements(tmp_path: Path) -> None:
    made = os.environ.get("K2L_TEST_TF_PYTHON", "")
    python = made if made else tf_python()[0]
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    images, masks = _write_images(tmp_path / "images")
    original = tmp_path / "original.py"
    original.write_text(SCRIPT, encoding="utf-8")
    theirs = _elements(python, original, images, masks, block=False)
    ours = _elements(sys.executable, _convert(tmp_path), images, masks, block=True)
    assert sorted(ours) == sorted(theirs) == ["0_0", "0_1", "1_0", "1_1"]  # 7 // 3 batches
    for key, want in theirs.items():
        got = ours[key]
        assert got.shape == want.shape and got.dtype == want.dtype, (key, got.shape, got.dtype)
        if key.endswith("_1"):  # masks: PNG and nearest resize are exact
            np.testing.assert_array_equal(got, want)
        else:  # images in [0, 1]: JPEG IDCT rounding, a few levels of 255 at most
            np.testing.assert_allclose(got, want, atol=4 / 255, rtol=0)
