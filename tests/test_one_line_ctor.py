"""A custom layer's constructor call the source wrapped over lines is written on one line in
the generated ``__init__`` (pasted as written it kept the source's indentation)."""

from __future__ import annotations

import textwrap

from agent.rules.convert import convert_source

SRC = textwrap.dedent("""\
    import keras
    from keras import layers


    class Block(layers.Layer):
        def __init__(self, channel, stride, name=None):
            super().__init__(name=name)
            self.dense = layers.Dense(channel)

        def call(self, x):
            return self.dense(x)


    inputs = keras.Input((6,))
    x = Block(
        channel=3, stride=1, name="block"
    )(inputs)
    x = Block(
        channel=3,  # the comment keeps this call as written
        stride=2,
    )(x)
    model = keras.Model(inputs, x)
    """)


def test_a_wrapped_constructor_call_is_one_line() -> None:
    code = convert_source(SRC, "model.py").source
    assert '        self.block = Block(channel=3, stride=1, name="block")\n' in code, code
    assert "channel=3,  # the comment keeps this call as written" in code, code
