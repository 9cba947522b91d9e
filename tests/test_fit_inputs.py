"""A model reloaded with ``load_model`` is still the converted class: the ``evaluate`` after
it converts too (it was left as ``model.evaluate`` on a LightningModule)."""

from __future__ import annotations

import textwrap

from agent.rules.convert import convert_source

_MODEL = """\
import numpy as np
import keras
from keras import layers


def make_model():
    inputs = keras.Input(shape=(8,))
    outputs = layers.Dense(1, activation="sigmoid")(inputs)
    return keras.Model(inputs, outputs)


model = make_model()
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
"""


def test_fit_on_arrays_still_converts() -> None:
    src = _MODEL + textwrap.dedent("""\
        x = np.random.rand(32, 8).astype("float32")
        y = np.random.randint(0, 2, size=(32, 1))
        model.fit(x, y, epochs=2, validation_split=0.25)
        """)
    out = convert_source(src)
    assert "trainer.fit(" in out.source and "model.fit(" not in out.source


def test_a_reloaded_model_is_evaluated_with_the_converted_class() -> None:
    src = _MODEL + textwrap.dedent("""\
        x = np.random.rand(32, 8).astype("float32")
        y = np.random.randint(0, 2, size=(32, 1))
        model.fit(x, y, epochs=2, callbacks=[
            keras.callbacks.ModelCheckpoint("best.keras", save_best_only=True,
                                            monitor="loss")])
        model = keras.models.load_model("best.keras")
        loss, acc = model.evaluate(x, y)
        print(loss, acc)
        """)
    out = convert_source(src)
    cls = out.models[0]
    assert f"model = {cls}.load_from_checkpoint('best.ckpt')" in out.source
    assert "model.evaluate(" not in out.source
    assert "trainer.test(model, " in out.source


def test_a_list_of_one_callback_class_is_typed_for_the_trainer() -> None:
    """``[ModelCheckpoint(...)]`` is ``list[ModelCheckpoint]`` to mypy, which ``Trainer``'s
    ``list[Callback]`` (invariant) rejects: the converted list is annotated, once."""
    fit = textwrap.dedent("""\
        x = np.random.rand(32, 8).astype("float32")
        y = np.random.randint(0, 2, size=(32, 1))
        callbacks = [keras.callbacks.EarlyStopping(monitor="loss", patience=2)]
        model.fit(x, y, epochs=2, callbacks=callbacks)
        """)
    out = convert_source(_MODEL + fit).source
    assert "callbacks: list[pl.Callback] = [" in out
    assert "callbacks=callbacks" in out
    twice = convert_source(_MODEL + fit + "callbacks = []\n").source
    assert "callbacks: list[pl.Callback]" not in twice
