"""``keras.models.load_model(path)`` of a file the script's own ``model.save(path)`` wrote:
the class that saved it loads it back (``load_from_checkpoint``), whatever number of models
the script has, and the loaded model's predict/fit convert like the original's."""

from __future__ import annotations

import textwrap
from pathlib import Path

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

SOURCE = textwrap.dedent("""
    import numpy as np
    import keras
    from keras import layers

    x = np.linspace(-1.0, 1.0, 48, dtype="float32").reshape(12, 4)
    y = (x.sum(axis=1) > 0).astype("float32")

    scorer = keras.Sequential([layers.Input((4,)), layers.Dense(8, activation="relu"),
                               layers.Dense(1, activation="sigmoid")])
    scorer.compile(optimizer="adam", loss="binary_crossentropy")
    scorer.fit(x, y, batch_size=4, epochs=1, verbose=0)
    scorer.save("scorer.keras")

    inputs = keras.Input((4,))
    hidden = layers.Dense(3, activation="tanh")(inputs)
    encoder = keras.Model(inputs, hidden)
    encoder.compile(optimizer="sgd", loss="mse")
    encoder.fit(x, np.zeros((12, 3), dtype="float32"), batch_size=4, epochs=1, verbose=0)

    restored = keras.models.load_model(PATH)
    print("SAME", bool(np.allclose(restored.predict(x, verbose=0), scorer.predict(x, verbose=0))))
""")


def test_the_class_that_saved_the_file_loads_it_back(tmp_path: Path) -> None:
    result = convert_source(SOURCE.replace("PATH", '"scorer.keras"'))
    assert result.keras_deps == [] and "TODO(k2l)" not in result.source, result.source
    assert "restored = Scorer.load_from_checkpoint('scorer.ckpt')" in result.source
    run = run_without_tf(result.source, tmp_path, fast_dev_run=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "SAME True" in run.stdout, run.stdout[-2000:]
    assert (tmp_path / "scorer.ckpt").is_file()


def test_a_file_no_class_saved_stays_a_todo() -> None:
    result = convert_source(SOURCE.replace("PATH", '"downloaded.keras"'))
    assert "Scorer.load_from_checkpoint(" not in result.source
    assert any("load_model" in u.keras_name for u in result.unmapped), result.unmapped
