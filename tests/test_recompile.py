"""A model class compiled again with the same settings (fine-tuning and comparison scripts
rebuild and recompile): the second compile() is dropped, since each ``Trainer.fit`` builds a
fresh optimizer from ``configure_optimizers`` as Keras's compile() builds a fresh one. Other
settings in a second compile() stay reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

TEMPLATE = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers


    def get_model():
        return keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"),
                                 layers.Dense(3, activation="softmax")])


    if __name__ == "__main__":
        x = np.random.rand(64, 4).astype("float32")
        y = keras.utils.to_categorical(np.random.randint(0, 3, 64), 3)
        model = get_model()
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        model.fit(x, y, epochs=1, batch_size=16)
        model = get_model()
        model.compile({second})
        model.fit(x, y, epochs=1, batch_size=16)
    """)


def test_the_same_settings_again_are_dropped(tmp_path: Path) -> None:
    # the same arguments, keywords in another order
    src = TEMPLATE.format(second='optimizer="adam", metrics=["accuracy"], '
                                 'loss="categorical_crossentropy"')
    result = convert_source(src)
    assert ".compile(" not in result.source
    assert not [u for u in result.unmapped if "compile" in u.keras_name]
    assert any("compiled again with the same settings" in c.message for c in result.changes)
    done = run_without_tf(result.source, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def test_other_settings_stay_reported() -> None:
    src = TEMPLATE.format(second='loss="categorical_crossentropy", optimizer="sgd"')
    result = convert_source(src)
    assert [u for u in result.unmapped if "compiled twice" in u.reason]
