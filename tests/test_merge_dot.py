"""Keras ``Dot`` on sequences: the attention scores and context of a seq2seq model.

``Dot(axes=[2, 2])([decoder, encoder])`` is a batched ``x @ y^T``, ``Dot(axes=[2, 1])`` a
batched ``x @ y``, and a sequence dotted with a vector drops the contracted axis. Our own
programs, compared with Keras 3 (torch backend) after porting the weights.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

from agent.equivalence import check_sources
from tests.test_lazy_sizes import KERAS, convert

ATTENTION = KERAS + """
encoder_in = keras.Input(shape=(7, 4))
decoder_in = keras.Input(shape=(5, 4))
encoder = layers.Dense(6)(encoder_in)
decoder = layers.Dense(6)(decoder_in)
scores = layers.Dot(axes=[2, 2])([decoder, encoder])
weights = layers.Activation("softmax")(scores)
context = layers.Dot(axes=[2, 1])([weights, encoder])
query = layers.Dense(6)(layers.GlobalAveragePooling1D()(decoder_in))
similarity = layers.Dot(axes=(-1, 2), normalize=True)([query, context])
outputs = layers.Dense(3)(layers.Concatenate()([layers.Flatten()(context), similarity]))
model = keras.Model([encoder_in, decoder_in], outputs)
"""


def test_dot_on_sequences_is_a_batched_matmul() -> None:
    result = convert(ATTENTION)
    code = result.source
    assert not result.unmapped, [u.reason for u in result.unmapped]
    assert "torch.matmul(decoder, encoder.transpose(1, 2))" in code
    assert "torch.matmul(weights, encoder)" in code
    assert ".unsqueeze(1)" in code and "F.normalize(" in code


def test_dot_on_sequences_is_numerically_keras() -> None:
    result = convert(ATTENTION)
    eq = check_sources(ATTENTION, result.source)
    assert eq.passed, f"{eq.message}\n{result.source}"
