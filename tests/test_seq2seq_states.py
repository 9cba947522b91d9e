"""Encoder states into a decoder (``initial_state=encoder_states`` with
``encoder_states = [state_h, state_c]``), the Keras seq2seq idiom, and inference models
built over the trained model's layers (models/extract.py ``layer_call``, models/transform.py
``shared_layer_warnings``).

The states were silently dropped before: the decoder started from zeros and the encoder was
not even part of the converted model. Now the list is followed (numerically Keras 3's model,
weights ported), states the rules cannot follow are reported, and a second model over the
same layer objects is warned, since its converted class has weights of its own."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from pathlib import Path

import pytest
import pytorch_lightning as pl

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.rules.semantics import changes_semantics
from tests.definitions import convert_and_load

_TRAINING = """
from keras.models import Model
from keras.layers import Input, {rnn}, Dense

encoder_inputs = Input(shape=(None, 5))
encoder = {rnn}(6, return_state=True)
encoder_outputs, {states} = encoder(encoder_inputs)
encoder_states = {state_list}

decoder_inputs = Input(shape=(None, 7))
decoder_rnn = {rnn}(6, return_sequences=True, return_state=True)
{outs} = decoder_rnn(decoder_inputs, initial_state=encoder_states)
decoder_dense = Dense(7, activation='softmax')
decoder_outputs = decoder_dense(decoder_outputs)

model = Model([encoder_inputs, decoder_inputs], decoder_outputs)
model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
"""

_CASES = {
    "lstm_list": dict(rnn="LSTM", states="state_h, state_c", state_list="[state_h, state_c]",
                      outs="decoder_outputs, _, _"),
    "gru_tensor": dict(rnn="GRU", states="state_h", state_list="state_h",
                       outs="decoder_outputs, _"),
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_the_decoder_starts_from_the_encoder_states(tmp_path: Path, case: str) -> None:
    src = _TRAINING.format(**_CASES[case])
    res, module = convert_and_load(tmp_path, src)
    assert "self.encoder(encoder_inputs)" in res.source, res.source  # the encoder runs
    (cls,) = [o for o in vars(module).values() if isinstance(o, type)
              and issubclass(o, pl.LightningModule) and o is not pl.LightningModule]
    keras_model = exec_source(textwrap.dedent(src), "k2l_original")["model"]
    eq = compare(keras_model, cls())  # zeros as initial states would differ here
    assert eq.passed, eq.message


def test_states_the_rules_cannot_follow_are_reported_not_dropped() -> None:
    src = _TRAINING.format(**_CASES["lstm_list"]).replace(
        "encoder_states = [state_h, state_c]", "encoder_states = pick([state_h, state_c])")
    res = convert_source("def pick(states):\n    return states\n" + textwrap.dedent(src))
    reasons = [u.reason for u in res.unmapped]
    assert any("initial_state=encoder_states" in r for r in reasons), reasons


_INFERENCE = _TRAINING.format(**_CASES["lstm_list"]) + """
encoder_model = Model(encoder_inputs, encoder_states)
"""


def test_an_inference_model_over_trained_layers_is_warned() -> None:
    res = convert_source(textwrap.dedent(_INFERENCE), "s2s.py")
    shared = [w.message for w in res.warnings if "Keras shares their weights" in w.message]
    assert shared == ["encoder_model: uses the layers encoder of model (Keras shares their "
                      "weights between the two models); the converted EncoderModel has its "
                      "own, untrained by model's training"]
    assert changes_semantics(shared[0])  # the file is partial, never "converted"


def test_a_model_passed_to_another_is_not_warned() -> None:
    src = textwrap.dedent("""
        import keras
        from keras import layers

        base = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3)])
        inp = keras.Input(shape=(4,))
        model = keras.Model(inp, layers.Dense(1)(base(inp)))
    """)
    res = convert_source(src, "tower.py")
    assert not [w for w in res.warnings if "Keras shares their weights" in w.message]
