"""Values a builder computes between a Sequential's ``add`` calls: the class is made after
them (it takes them as arguments), or, when they read the half-built Keras model, the model
is reported instead of converted into a class called before its arguments exist."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import re
import textwrap

import keras
import numpy as np

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source

BETWEEN = textwrap.dedent("""\
    import keras
    import numpy as np
    from keras import layers


    def make_model():
        model = keras.Sequential()
        model.add(keras.Input((8,)))
        model.add(layers.Dense(16, activation="relu"))
        hidden = int(np.sqrt(64))
        model.add(layers.Dense(hidden, activation="tanh"))
        model.add(layers.Dense(3))
        return model


    model = make_model()
    """)


def test_the_class_is_made_after_the_values_its_layers_take() -> None:
    result = convert_source(BETWEEN, "model.py")
    assert not result.unmapped, [u.reason for u in result.unmapped]
    code = result.source
    assert re.search(r"    hidden = int\(np.sqrt\(64\)\)\n    model = \w+\(hidden=hidden\)\n", code), code
    assert "keras" not in code.split("class ")[0]
    keras.utils.set_random_seed(0)
    original = exec_source(BETWEEN, "k2l_original")["model"]
    converted = exec_source(code, "k2l_converted")["model"]
    rng = np.random.default_rng(1)
    for w in original.weights:
        w.assign(rng.normal(0.0, 0.5, size=tuple(w.shape)).astype("float32"))
    eq = compare(original, converted)
    assert eq.passed, f"{eq.message}\n{code}"


def test_keras_2_weights_computed_between_adds_are_passed_once_computed() -> None:
    src = textwrap.dedent("""\
        import numpy as np
        from keras.layers import Dense
        from keras.models import Sequential


        def make_model(scale):
            model = Sequential()
            model.add(Dense(4, input_shape=(3,), name="fc1"))
            deeper = [np.eye(4, dtype="float32") * scale, np.zeros(4, dtype="float32")]
            model.add(Dense(4, name="fc2", weights=deeper))
            return model


        model = make_model(2.0)
        """)
    code = convert_source(src, "model.py").source
    body = code.split("def make_model(scale):\n", 1)[1]
    made = re.search(r"model = \w+\(deeper=deeper\)", body)
    assert made is not None and body.index("deeper = [") < made.start(), code
    assert "Sequential()" not in body


def test_a_value_read_off_the_half_built_model_is_reported_not_converted() -> None:
    src = BETWEEN.replace("hidden = int(np.sqrt(64))", "hidden = model.output_shape[-1] // 2")
    result = convert_source(src, "model.py")
    reasons = [u.reason for u in result.unmapped]
    assert any("computed from model while it is being built" in r for r in reasons), reasons
    assert "(hidden=hidden)" not in result.source  # no class made before its argument exists
    assert not any("internal error" in r for r in reasons)
