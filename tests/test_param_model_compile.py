"""``model.compile(...)`` on a function parameter that receives a converted model (``def
train(model, x, y)`` called from a comprehension): the rules cannot tell which class it holds,
and a LightningModule has no compile/fit, so the file is reported for a person instead of
being called converted."""

from __future__ import annotations

import textwrap

from agent.rules.convert import convert_source

SCRIPT = textwrap.dedent('''
    import numpy as np
    import keras
    from keras import layers


    def build():
        inp = keras.Input((4,))
        return keras.Model(inp, layers.Dense(2)(inp))


    def train(model, x, y):
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1)
        return model


    models = [build() for _ in range(2)]
    trained = [train(m, np.zeros((8, 4)), np.zeros((8, 2))) for m in models]
''')


def test_compile_of_a_model_parameter_is_reported() -> None:
    result = convert_source(SCRIPT, "params.py")
    reasons = [u.reason for u in result.unmapped if u.keras_name == "keras.Model.compile"]
    assert reasons and "a model passed in" in reasons[0], result.unmapped
    assert "# TODO(k2l): compile() of model" in result.source, result.source


def test_compile_of_a_parameter_that_is_no_model_is_left_alone() -> None:
    src = SCRIPT.replace('model.compile(optimizer="adam", loss="mse")', "model.compile()")
    result = convert_source(src, "params.py")
    assert not any(u.keras_name == "keras.Model.compile" for u in result.unmapped)
