"""fit/evaluate inputs real scripts pass to multi-input models: a list variable holding one
array per input (``fit(bags, y)``), and a Python generator yielding ``(dict of inputs, dict
of outputs)`` keyed by the layers' names. Each converted script runs without TensorFlow; the
converted step's loss on such a batch equals Keras's on the same weights."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agent.rules.convert import convert_source
from agent.weights import port_weights
from tests.without_tf import run_without_tf

keras = pytest.importorskip("keras")

LIST_MODEL = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers

    rng = np.random.default_rng(0)
    bags = [rng.normal(size=(24, 5)).astype("float32") for _ in range(3)]
    y = (rng.random(24) > 0.5).astype("float32")
    inputs = [keras.Input(shape=(5,)) for _ in range(3)]
    merged = layers.concatenate([layers.Dense(4, activation="relu")(i) for i in inputs])
    out = layers.Dense(1, activation="sigmoid")(merged)
    model = keras.Model(inputs, out)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    """)

DICT_MODEL = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers


    def batches(n):
        rng = np.random.default_rng(1)
        while True:
            yield ({"numbers": rng.normal(size=(n, 5)).astype("float32"),
                    "extra": rng.normal(size=(n, 2)).astype("float32")},
                   {"score": rng.normal(size=(n, 1)).astype("float32")})


    numbers = keras.Input(shape=(5,), name="numbers")
    extra = keras.Input(shape=(2,), name="extra")
    h = layers.concatenate([layers.Dense(4, activation="relu")(numbers), extra])
    score = layers.Dense(1, name="score")(h)
    model = keras.Model([numbers, extra], score)
    model.compile(optimizer="adam", loss="mse")
    """)


def _converted(src: str) -> str:
    res = convert_source(src)
    assert res.error == "" and "TODO(k2l)" not in res.source, res.source
    assert res.keras_deps == [] and res.unmapped == [], res.unmapped
    return res.source


@pytest.mark.parametrize("src,fit", [
    (LIST_MODEL, "model.fit(bags, y, batch_size=8, epochs=1)\n"
                 "print('EVAL', len(model.evaluate(bags, y, batch_size=8)))\n"),
    (DICT_MODEL, "model.fit(batches(8), steps_per_epoch=3, epochs=1)\n"
                 "model.fit_generator(batches(4), steps_per_epoch=2, epochs=1)\n"),
])
def test_multi_input_fit_script_runs_without_tensorflow(tmp_path: Path, src: str, fit: str
                                                        ) -> None:
    code = _converted(src + fit + 'print("DONE")\n')
    assert "is not a list of" not in code
    run = run_without_tf(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "DONE" in run.stdout


def _models(src: str) -> tuple[dict[str, Any], dict[str, Any]]:
    keras.utils.set_random_seed(0)
    ns: dict[str, Any] = {}
    exec(compile(src, "<keras>", "exec"), ns)
    tns: dict[str, Any] = {}
    exec(compile(_converted(src), "<converted>", "exec"), tns)
    port_weights(ns["model"], tns["model"])
    return ns, tns


def test_list_variable_inputs_give_keras_loss() -> None:
    ns, tns = _models(LIST_MODEL)
    bags, y = ns["bags"], ns["y"]
    expected = ns["model"].evaluate(bags, y, batch_size=len(y), verbose=0)[0]
    batch = [*(torch.as_tensor(b) for b in bags), torch.as_tensor(y)]
    with torch.no_grad():
        loss = tns["model"].training_step(batch, 0)
    assert abs(float(loss) - float(expected)) < 1e-5


def test_dict_batches_are_read_by_keras_names() -> None:
    """The generator's dicts list "numbers" before "extra" as the model does; swapped keys
    would feed the 2-wide array to the 5-wide input and fail, so the order is checked too."""
    ns, tns = _models(DICT_MODEL)
    rng = np.random.default_rng(2)
    xs = {"extra": rng.normal(size=(6, 2)).astype("float32"),  # not in the inputs' order
          "numbers": rng.normal(size=(6, 5)).astype("float32")}
    ys = {"score": rng.normal(size=(6, 1)).astype("float32")}
    # Keras 3 takes a single output's target as the array (Keras 2 also took the dict)
    expected = ns["model"].evaluate(xs, ys["score"], batch_size=6, verbose=0)
    expected = expected[0] if isinstance(expected, list) else expected
    batch = ({k: torch.as_tensor(v) for k, v in xs.items()},
             {k: torch.as_tensor(v) for k, v in ys.items()})
    with torch.no_grad():
        loss = tns["model"].training_step(batch, 0)
    assert abs(float(loss) - float(expected)) < 1e-5


NESTED_PIPELINE = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 6)).astype("float32")
    labels = rng.integers(0, 3, size=40)


    def load_dataset(x, y):
        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        dataset = dataset.map(lambda a, b: (a * 2.0, b))
        return dataset


    def get_dataset(x, y, shuffle=True):
        dataset = load_dataset(x, y)
        if shuffle:
            dataset = dataset.shuffle(64)
        dataset = dataset.batch(8)
        return dataset


    train_dataset = get_dataset(features, labels)
    valid_dataset = get_dataset(features[:16], labels[:16])
    model = keras.Sequential([
        keras.Input(shape=(6,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train_dataset, epochs=1, validation_data=valid_dataset)
    batches = list(get_dataset(features, labels, shuffle=False))
    print("BATCHES", len(batches), bool(np.allclose(np.asarray(batches[0][0]), features[:8] * 2)))
    """)


def test_pipeline_from_a_helper_calling_a_helper_is_fed_as_a_pipeline(tmp_path: Path) -> None:
    """``get_dataset`` continues the pipeline ``load_dataset`` returns: fit feeds it as the
    pipeline it is (was ``np.asarray(train_dataset)``, which fails at run time)."""
    code = _converted(NESTED_PIPELINE)
    assert "np.asarray(train_dataset)" not in code
    assert "DataLoader(train_dataset, batch_size=None)" in code
    run = run_without_tf(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "BATCHES 5 True" in run.stdout  # tf.data's map then batch: 40 / 8, doubled
