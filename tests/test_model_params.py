"""``run_experiment(model, ...)``: a helper that compiles and fits the model it is passed
converts into the class every call passes; calls passing different classes are reported."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap

import numpy as np

from agent.equivalence import exec_source
from agent.rules.convert import convert_source

HELPER = """
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x_train = rng.random((48, 8)).astype("float32")
y_train = keras.utils.to_categorical((x_train.sum(axis=1) > 4).astype("int64"), 2)


def train_model(model, x, y, epochs):
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=epochs, verbose=0)
    return model.evaluate(x, y, verbose=0)


model = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(16, activation="relu"),
                          layers.Dense(2, activation="softmax")])
first = train_model(model, x_train, y_train, 1)
second = train_model(model, x_train, y_train, epochs=1)
"""

TWO_CLASSES = """
import keras
from keras import layers


def run_experiment(model, x, y):
    model.compile(loss="mse", optimizer="adam")
    model.fit(x, y, epochs=1)


small = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
inputs = keras.Input(shape=(4,))
large = keras.Model(inputs, layers.Dense(1)(layers.Dense(8)(inputs)))
run_experiment(small, None, None)
run_experiment(large, None, None)
"""


def test_helper_compile_and_fit_convert_into_the_passed_class() -> None:
    result = convert_source(textwrap.dedent(HELPER), "model.py")
    code = result.source
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "model.compile(" not in code and "model.fit(" not in code
    assert "trainer.fit(model, train_loader)" in code
    assert "def configure_optimizers(" in code and "def test_step(" in code


def test_converted_helper_trains_and_evaluates_like_keras_returns() -> None:
    """The converted script runs both calls; evaluate's [loss, accuracy] as Keras returns."""
    space = exec_source(convert_source(textwrap.dedent(HELPER), "model.py").source,
                        "k2l_helper")
    original = exec_source(textwrap.dedent(HELPER), "k2l_helper_keras")
    for name in ("first", "second"):
        assert len(space[name]) == len(original[name]) == 2  # [loss, accuracy]
        loss, accuracy = (float(v) for v in space[name])
        assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0


TWO_INPUT_KINDS = TWO_CLASSES.replace(
    "small = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(1)])",
    "small = keras.Sequential([keras.Input(shape=(4,), dtype=\"int32\"), "
    "layers.Embedding(10, 2), layers.Flatten(), layers.Dense(1)])")


def test_helper_passed_classes_with_the_same_training_code_compiles_each() -> None:
    result = convert_source(textwrap.dedent(TWO_CLASSES), "model.py")
    code = result.source
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "model.compile(" not in code and code.count("trainer.fit(model, train_loader)") == 1
    for cls in ("class Small(", "class Large("):  # each class got the compile's methods
        body = code.split(cls)[1].split("\nclass ")[0]
        assert "def configure_optimizers(" in body and "F.mse_loss(" in body


def test_helper_passed_classes_needing_different_code_is_reported() -> None:
    assert TWO_INPUT_KINDS != TWO_CLASSES
    result = convert_source(textwrap.dedent(TWO_INPUT_KINDS), "model.py")
    reasons = [u.reason for u in result.unmapped if u.keras_name == "run_experiment(model)"]
    assert reasons and "Large" in reasons[0] and "Small" in reasons[0], \
        [(u.keras_name, u.reason) for u in result.unmapped]
    assert "model.compile(" in result.source  # kept as written, not half converted
    assert "def configure_optimizers(" not in result.source
