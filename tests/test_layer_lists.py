"""A list of Keras layers applied in order by a loop converts as the Sequential it equals:
in a tf.data map function (augmentation) and on a functional model's tensors. The converted
scripts run without TensorFlow; a deterministic list's output equals Keras's loop."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

keras = pytest.importorskip("keras")

DATA = """\
rng = np.random.default_rng(0)
images = rng.random((32, 16, 16, 3)).astype("float32")
labels = rng.integers(0, 4, size=32)
"""

MODEL = """\
    keras.layers.Conv2D(4, 3, activation="relu"),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.Dense(4, activation="softmax"),
"""

IN_MAP = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    """) + DATA + textwrap.dedent("""\

    augmentation_layers = [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
    ]


    def augment(x):
        for layer in augmentation_layers:
            x = layer(x, training=True)
        return x


    train_ds = tf.data.Dataset.from_tensor_slices((images, labels))
    train_ds = train_ds.batch(8).map(lambda x, y: (augment(x), y))
    model = keras.Sequential([
        keras.Input(shape=(16, 16, 3)),
    """) + MODEL + textwrap.dedent("""\
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_ds, epochs=1)
    print("DONE")
    """)

IN_MODEL = textwrap.dedent("""\
    import numpy as np
    from tensorflow import keras
    from tensorflow.keras import layers

    """) + DATA + textwrap.dedent("""\

    augmenters = (
        layers.RandomFlip("horizontal"),
        layers.RandomContrast(0.2),
    )

    inputs = keras.Input(shape=(16, 16, 3))
    x = inputs
    for augmenter in augmenters:
        x = augmenter(x)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, batch_size=8, epochs=1)
    print("DONE")
    """)


def _converted(src: str) -> str:
    res = convert_source(src)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    assert res.keras_deps == [] and res.unmapped == [], (res.keras_deps, res.unmapped)
    assert "models.layer_list" in {c.rule for c in res.changes}
    return res.source


@pytest.mark.parametrize("src", [IN_MAP, IN_MODEL])
def test_looped_layer_list_converts_and_runs_without_tensorflow(tmp_path: Path, src: str
                                                                 ) -> None:
    code = _converted(src)
    assert "for layer in" not in code and "for augmenter in" not in code
    run = run_without_tf(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DONE" in run.stdout


def test_list_read_elsewhere_is_left_alone() -> None:
    """The list is also indexed: a Sequential would change what that read gets."""
    src = IN_MAP.replace('print("DONE")', 'print(augmentation_layers[0])')
    res = convert_source(src)
    assert "models.layer_list" not in {c.rule for c in res.changes}


PREPROCESS = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers

    steps = [
        layers.Rescaling(1.0 / 255),
        layers.Cropping2D(((1, 3), (2, 0))),
        layers.Rescaling(2.0, offset=-1.0),
    ]


    def preprocess(x):
        for step in steps:
            x = step(x)
        return x
    """)


def test_deterministic_layer_list_computes_keras_loop() -> None:
    x = np.random.default_rng(3).integers(0, 256, size=(2, 12, 10, 3)).astype("float32")
    ns: dict[str, Any] = {}
    exec(compile(PREPROCESS, "<keras>", "exec"), ns)
    expected = keras.ops.convert_to_numpy(ns["preprocess"](x))
    res = convert_source(PREPROCESS)
    assert "models.layer_list" in {c.rule for c in res.changes}, res.source
    assert "keras" not in res.source.replace("Keras", ""), res.source
    tns: dict[str, Any] = {}
    exec(compile(res.source, "<converted>", "exec"), tns)
    got = tns["preprocess"](torch.as_tensor(x)).detach().numpy()
    assert got.shape == expected.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)
