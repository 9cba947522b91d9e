"""A model class compiled again (fine-tuning and comparison scripts rebuild and recompile).

The same settings: the second compile() is dropped, since each ``Trainer.fit`` builds a fresh
optimizer from ``configure_optimizers`` as Keras's compile() builds a fresh one. Other
optimizer settings (``Adam(1e-2)`` then ``Adam(1e-1)`` after ``base.trainable = True``): the
module holds them as attributes each compile sets, and the fine-tuning script trains like
Keras (Keras 3 on the torch backend gives the numbers). Another loss, metrics or optimizer
class stays reported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
    assert [u for u in result.unmapped if "compiled again with another loss" in u.reason]
    assert "model.compile(" in result.source


# Constant initializers and no shuffling: Keras and the converted script start from the same
# weights and see the same batches. The base is frozen for the first fit only.
FINE_TUNING = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers

    if __name__ == "__main__":
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32")
        y = (x[:, :1] * 2.0 - x[:, 1:2]).astype("float32")
        base = keras.Sequential([
            keras.Input((4,)),
            layers.Dense(8, activation="relu", kernel_initializer=keras.initializers.Constant(0.3)),
            layers.Dense(8, activation="relu", kernel_initializer=keras.initializers.Constant(0.2)),
        ], name="base")
        head = layers.Dense(1, kernel_initializer=keras.initializers.Constant(0.5))
        model = keras.Sequential([keras.Input((4,)), base, head])
        base.trainable = False
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        base.trainable = True
        model.compile(optimizer=keras.optimizers.Adam(1e-1), loss="mse")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        print("FINAL", float(np.sum(model.predict(x, verbose=0))))
    """)


def _final(stdout: str) -> float:
    return float(next(ln for ln in stdout.splitlines() if ln.startswith("FINAL")).split()[1])


def test_fine_tuning_recompile_trains_like_keras(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    result = convert_source(FINE_TUNING)
    assert result.keras_deps == [] and "TODO(k2l)" not in result.source, result.source
    assert ".compile(" not in result.source
    assert "lr=self.learning_rate" in result.source
    assert "model.learning_rate = 1e-1" in result.source
    assert "set_module_trainable(base, False)" in result.source
    script = tmp_path / "keras_original.py"
    script.write_text(FINE_TUNING, encoding="utf-8")
    keras_run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                               timeout=300, check=False, cwd=tmp_path,
                               env={**os.environ, "KERAS_BACKEND": "torch"})
    assert keras_run.returncode == 0, keras_run.stderr[-3000:]
    run = run_without_tf(result.source, tmp_path, fast_dev_run=False)
    assert run.returncode == 0, run.stderr[-3000:]
    expected, got = _final(keras_run.stdout), _final(run.stdout)
    # the first rate kept (22.9) or the base left trainable (-9.3) land far from Keras's -18.3;
    # Adam's epsilon placement differs in the last digits
    assert abs(got - expected) <= 1e-4 * abs(expected), (got, expected)


def test_a_third_compile_like_the_first_sets_the_first_values_back() -> None:
    src = TEMPLATE.format(second='loss="categorical_crossentropy", '
                                 'optimizer=keras.optimizers.Adam(1e-4), metrics=["accuracy"]')
    src = src.replace('optimizer="adam"', "optimizer=keras.optimizers.Adam(1e-3)")
    src += ('    model.compile(loss="categorical_crossentropy", '
            'optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])\n'
            "    model.fit(x, y, epochs=1, batch_size=16)\n")
    result = convert_source(src)
    assert ".compile(" not in result.source and "TODO(k2l)" not in result.source
    code = result.source
    assert code.index("model.learning_rate = 1e-4") < code.index("model.learning_rate = 1e-3")
    assert "self.learning_rate = 1e-3" in code


def test_a_recompile_that_only_runs_eagerly_is_dropped() -> None:
    src = TEMPLATE.format(second='loss="categorical_crossentropy", optimizer="adam", '
                                 'metrics=["accuracy"], run_eagerly=True')
    result = convert_source(src)
    assert ".compile(" not in result.source and "TODO(k2l)" not in result.source
    assert "self.learning_rate" not in result.source
    assert any("same training settings" in c.message for c in result.changes)


def test_a_recompile_with_a_rate_held_in_a_name_stays_reported() -> None:
    """``Adam(lr)`` with ``lr`` a schedule object: not a number the module can hold."""
    src = TEMPLATE.format(second='loss="categorical_crossentropy", optimizer='
                                 'keras.optimizers.Adam(lr), metrics=["accuracy"]')
    src = src.replace('optimizer="adam"', "optimizer=keras.optimizers.Adam(1e-3)")
    src = src.replace("    model.compile(loss=\"categorical_crossentropy\", optimizer=keras."
                      "optimizers.Adam(lr)", "    lr = learning_rate = keras.optimizers.schedules."
                      "InverseTimeDecay(0.1, 25, 0.1)\n    model.compile(loss=\"categorical_"
                      "crossentropy\", optimizer=keras.optimizers.Adam(lr)")
    assert "InverseTimeDecay" in src
    result = convert_source(src)
    assert "model.learning_rate = lr" not in result.source, result.source
    assert [u for u in result.unmapped if "compiled again with another" in u.reason]
