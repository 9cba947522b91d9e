"""tf.data chains continued by a conditional expression (``ds = ds.map(f) if augment else
ds``), in a dataset-making function or at top level: the name still holds a pipeline, so
``fit`` feeds it as one. Before, the kind was lost at the ``if``/``else``, ``fit`` took the
dataset for an array (``np.asarray(train_dataset)``) and the converted script crashed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from without_tf import run_without_tf

from agent.rules.convert import convert_source

MODEL = '''
def build():
    inp = keras.Input(shape=(8,))
    x = layers.Dense(16, activation="relu")(inp)
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))
'''

IN_FUNCTION = '''
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

BATCH = 16


def jitter(x, y):
    return x + tf.random.uniform(tf.shape(x), -0.01, 0.01), y


def make_dataset(points, labels, is_training=True):
    dataset = tf.data.Dataset.from_tensor_slices((points, labels))
    dataset = dataset.shuffle(BATCH * 10) if is_training else dataset
    dataset = dataset.map(jitter) if is_training else dataset
    return dataset.batch(BATCH)
''' + MODEL + '''

if __name__ == "__main__":
    xs = np.random.rand(64, 8).astype("float32")
    ys = np.random.randint(0, 3, size=(64,))
    train_ds = make_dataset(xs, ys)
    val_ds = make_dataset(xs, ys, is_training=False)
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(train_ds, validation_data=val_ds, epochs=2)
    print("losses", len(history.history["loss"]))
'''

AT_TOP_LEVEL = '''
import sys

import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

AUGMENT = len(sys.argv) < 5


def jitter(x, y):
    return x * 1.01, y
''' + MODEL + '''

xs = np.random.rand(64, 8).astype("float32")
ys = np.random.randint(0, 3, size=(64,))
train_ds = tf.data.Dataset.from_tensor_slices((xs, ys)).shuffle(64)
train_ds = train_ds.map(jitter) if AUGMENT else train_ds
train_ds = train_ds.batch(16)
model = build()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
history = model.fit(train_ds, epochs=2)
print("losses", len(history.history["loss"]))
'''

@pytest.mark.parametrize("source", [IN_FUNCTION, AT_TOP_LEVEL], ids=["function", "top_level"])
def test_conditional_chain_is_fed_as_a_pipeline_and_the_script_runs(
        source: str, tmp_path: Path) -> None:
    result = convert_source(textwrap.dedent(source), "train.py")
    assert not result.error and not result.unmapped, result.unmapped
    assert result.keras_deps == [], result.keras_deps
    assert "np.asarray(train_ds)" not in result.source
    assert "DataLoader(train_ds, batch_size=None)" in result.source, result.source
    run = run_without_tf(result.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "losses 1" in run.stdout  # fast_dev_run: one epoch of one batch, recorded


def test_names_unpacked_from_a_generator_of_dataset_calls_are_pipelines() -> None:
    source = IN_FUNCTION.replace(
        "    train_ds = make_dataset(xs, ys)\n",
        "    train_ds, other_ds = (make_dataset(a, ys) for a in [xs, xs * 2])\n")
    result = convert_source(textwrap.dedent(source), "train.py")
    assert "DataLoader(train_ds, batch_size=None)" in result.source, result.source
    assert "np.asarray(train_ds)" not in result.source
