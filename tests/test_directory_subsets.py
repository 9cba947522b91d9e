"""``train_ds, val_ds = image_dataset_from_directory(..., subset="both")`` (Keras 3's form):
both names hold pipelines, which ``fit`` feeds as they are (it took them for arrays,
``np.asarray(train_ds)``, and the script crashed), and a converted augmentation model
mapped over them gets whole batches (the loader batches, 32 by default): no extra batch
axis, which only a ``.map`` before ``.batch`` needs. The converted script runs on a small
directory of images without TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from without_tf import run_without_tf

from agent.rules.convert import convert_source

SCRIPT = '''
import keras
from keras import layers

size = (24, 20)

train_ds, val_ds = keras.utils.image_dataset_from_directory(
    "shapes", validation_split=0.25, subset="both", seed=7, image_size=size, batch_size=4)
augment = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
train_ds = train_ds.map(lambda x, y: (augment(x, training=True), y))


def make_model(input_shape):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(1)(x))


model = make_model(size + (3,))
model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
history = model.fit(train_ds, epochs=1, validation_data=val_ds)
print("epochs", len(history.history["loss"]))
'''

def test_both_subsets_are_pipelines_and_batches_are_augmented_whole(tmp_path: Path) -> None:
    from PIL import Image

    result = convert_source(SCRIPT, "train.py")
    assert not result.error and result.keras_deps == [], result.keras_deps
    assert "np.asarray(train_ds)" not in result.source and "np.asarray(a)" not in result.source
    assert "DataLoader(train_ds, batch_size=None)" in result.source, result.source
    assert "augment.train(True)(x), y)" in result.source, result.source
    rng = np.random.default_rng(0)
    for label in ("round", "square"):
        (tmp_path / "shapes" / label).mkdir(parents=True)
        for k in range(6):
            pixels = rng.integers(0, 255, (30, 26, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "shapes" / label / f"{k}.png")
    run = run_without_tf(result.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "epochs 1" in run.stdout
