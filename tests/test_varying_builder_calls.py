"""A builder loop or branch over a parameter that the module's calls set to different values
(``build(depth=1)`` and ``build(depth=3)``, also through ``**config`` dicts) is not unrolled
for one value and asserted: the other calls would fail that assert when the converted
script runs. The model is left for a person (reported); one value everywhere still unrolls."""

from __future__ import annotations

import textwrap

from agent.rules.convert import convert_source

BUILDER = textwrap.dedent('''
    import keras
    from keras import layers


    def build(depth=2, width=8, use_dropout=True):
        inp = keras.Input(shape=(4,))
        x = inp
        for _ in range(depth):
            x = layers.Dense(width, activation="relu")(x)
            if use_dropout:
                x = layers.Dropout(0.1)(x)
        return keras.Model(inp, layers.Dense(1)(x))

''')


def _convert(calls: str):  # type: ignore[no-untyped-def]
    return convert_source(BUILDER + textwrap.dedent(calls), "builder.py")


def test_calls_with_different_depths_leave_the_model_reported() -> None:
    for calls in ("small = build(depth=1)\nbig = build(depth=3)\n",
                  "a = {'depth': 1}\nb = {'depth': 3}\nm1 = build(**a)\nm2 = build(**b)\n"):
        result = _convert(calls)
        assert "assert depth ==" not in result.source, result.source
        assert any(u.qualname == "build" for u in result.unmapped), result.unmapped


def test_calls_with_different_branch_values_are_not_asserted() -> None:
    result = _convert("a = build(use_dropout=True)\nb = build(use_dropout=False)\n")
    assert "assert use_dropout ==" not in result.source, result.source


def test_one_value_for_every_call_still_unrolls_and_asserts() -> None:
    result = _convert("small = build(depth=3)\nagain = build(depth=3)\n")
    assert "assert depth == 3" in result.source, result.source
    assert not [u for u in result.unmapped if u.qualname == "build"], result.unmapped
