"""The three patterns of the article in shared/seed, as our own programs: they convert, pass
ruff, mypy and a one-batch fast_dev_run, and match the Keras original numerically.

The article's own Lightning code has bugs (softmax then cross_entropy, F.binary_crossentropy,
a Dense sized for the wrong input): these tests pin that our output has none of them.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from agent.equivalence import check_sources
from agent.rules.convert import convert_source
from agent.validate import validate_files

os.environ.setdefault("KERAS_BACKEND", "torch")

MLP = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    x_train = np.random.default_rng(0).normal(size=(64, 784)).astype("float32")
    y_train = keras.utils.to_categorical(np.arange(64) % 10, 10)

    model = keras.Sequential([
        keras.layers.Dense(128, activation="relu", input_shape=(784,)),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=2)
    ''')

TWO_INPUTS = textwrap.dedent('''\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    input1 = keras.Input(shape=(10,))
    input2 = keras.Input(shape=(20,))
    x1 = keras.layers.Dense(64, activation="relu")(input1)
    x2 = keras.layers.Dense(64, activation="relu")(input2)
    merged = keras.layers.concatenate([x1, x2])
    output = keras.layers.Dense(1, activation="sigmoid")(merged)
    model = keras.Model(inputs=[input1, input2], outputs=output)
    model.compile(optimizer="adam", loss="binary_crossentropy")

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(32, 10)), rng.normal(size=(32, 20))
    model.fit([a, b], (a.sum(1) > 0).astype("float32"), epochs=2)
    ''')

CUSTOM_LAYER = textwrap.dedent('''\
    import tensorflow as tf
    from tensorflow import keras


    class SineScale(keras.layers.Layer):
        def __init__(self, units):
            super(SineScale, self).__init__()
            self.units = units

        def call(self, inputs):
            return tf.math.sin(inputs) * self.units


    model = keras.Sequential([keras.Input(shape=(6,)), SineScale(5), keras.layers.Dense(10)])
    ''')

CASES = {"mlp": MLP, "two_inputs": TWO_INPUTS, "custom_layer": CUSTOM_LAYER}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("article")
    out = {}
    for name, src in CASES.items():
        result = convert_source(src, f"{name}.py")
        assert not result.unmapped, result.unmapped
        path = root / f"{name}.py"
        path.write_text(result.source)
        out[name] = path
    return out


def test_torch_only_and_no_article_bugs(converted: dict[str, Path]) -> None:
    for name, path in converted.items():
        code = path.read_text()
        assert "import keras" not in code and "from tensorflow" not in code, name
        assert "F.binary_crossentropy" not in code
    mlp = converted["mlp"].read_text()
    # softmax stays in forward (what predict returns); the loss reads the logits before it,
    # as TF-Keras does, and never applies a softmax to forward's probabilities again
    assert "return F.softmax(self.logits(x), dim=-1)" in mlp
    assert "F.cross_entropy(logits, " in mlp and "F.cross_entropy(y_hat" not in mlp
    assert "eps=1e-07" in mlp  # Keras's Adam epsilon, written out


def test_checks_pass(converted: dict[str, Path]) -> None:
    results = validate_files(list(converted.values()))
    for path, checks in results.items():
        status = {c.name: (c.status, c.message) for c in checks}
        for check in ("parse", "ruff", "mypy", "fast_dev_run"):
            assert status[check][0] == "passed", (path.name, check, status[check], checks)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name: str, converted: dict[str, Path]) -> None:
    original = CASES[name]
    # only the model definition: the originals' fit() is not what we compare
    keep = original.split("model.compile")[0]
    result = check_sources(keep, _definitions(converted[name]), "model")
    assert result.passed, result.message


def _definitions(path: Path) -> str:
    """The converted module up to its model instantiation (no training run)."""
    lines = path.read_text().splitlines()
    cut = next(k for k, line in enumerate(lines) if line.startswith("model = "))
    return "\n".join(lines[: cut + 1]) + "\n"
