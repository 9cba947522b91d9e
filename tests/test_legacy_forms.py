"""Keras 2 script forms: builders grid-searched over a list parameter (scikit-learn wrapper
examples), layers added in loops the rules cannot unroll."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap

from agent.rules.convert import convert_source


def test_layers_added_in_a_loop_over_a_parameter_list_fail_the_model_loudly() -> None:
    """``for size in sizes: model.add(Dense(size))`` with ``sizes`` a parameter every call
    may change: a class without those layers would be a different model."""
    src = textwrap.dedent("""
        from keras.models import Sequential
        from keras.layers import Dense, Flatten

        def make_model(hidden_sizes, classes):
            model = Sequential()
            model.add(Flatten(input_shape=(6, 6)))
            for size in hidden_sizes:
                model.add(Dense(size, activation='relu'))
            model.add(Dense(classes, activation='softmax'))
            return model

        candidates = [[8], [8, 4]]
        models = [make_model(sizes, 3) for sizes in candidates]
    """)
    result = convert_source(src)
    assert "LightningModule" not in result.source
    assert "model.add(Dense(size, activation='relu'))" in result.source
    reasons = [u.reason for u in result.unmapped]
    assert any("model.add(...) inside a for the rules cannot unroll" in r for r in reasons), \
        reasons


def test_a_loop_over_a_known_list_still_unrolls() -> None:
    src = textwrap.dedent("""
        from keras.models import Sequential
        from keras.layers import Dense, Flatten

        HIDDEN = [8, 4]
        model = Sequential()
        model.add(Flatten(input_shape=(6, 6)))
        for size in HIDDEN:
            model.add(Dense(size, activation='relu'))
        model.add(Dense(3))
    """)
    result = convert_source(src)
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "nn.Linear(6 * 6, 8)" in result.source and "nn.Linear(8, 4)" in result.source
