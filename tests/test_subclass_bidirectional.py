"""``Bidirectional`` inside a subclassed model: one forward expression per merge mode, with
and without ``return_sequences`` (it was reported "inside a subclassed model/layer" and the
model stayed Keras)."""

from __future__ import annotations

import pytest

from tests.test_lazy_sizes import KERAS, equivalent

TEXT = KERAS + """
class Reader(keras.Model):
    def __init__(self, vocab=50, dim=6, units=5):
        super().__init__()
        self.embed = layers.Embedding(vocab, dim)
        self.rnn = layers.Bidirectional(layers.{kind}(units{seq}){mode})
        self.head = layers.Dense(2)

    def call(self, tokens):
        return self.head(self.rnn(self.embed(tokens)))


model = Reader()
model.build((None, 7))
"""


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("seq", ["", ", return_sequences=True"])
@pytest.mark.parametrize("mode", ["", ', merge_mode="sum"', ', merge_mode="ave"',
                                  ', merge_mode="mul"'])
def test_bidirectional_in_a_subclass_computes_what_keras_computes(kind: str, seq: str,
                                                                  mode: str) -> None:
    src = TEXT.format(kind=kind, seq=seq, mode=mode)
    code = equivalent(src, shape=(7,))
    assert "bidirectional=True" in code, code


def test_a_wrapped_layer_made_elsewhere_stays_reported() -> None:
    from agent.rules.convert import convert_source
    src = KERAS + """
class Reader(keras.Model):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = layers.Bidirectional(rnn)

    def call(self, x):
        return self.rnn(x)
"""
    result = convert_source(src, "model.py")
    assert any("Bidirectional around a layer not made in its call" in u.reason
               for u in result.unmapped), [u.reason for u in result.unmapped]
