"""Encoder-decoder RNNs whose states reach the decoder through a named list
(``states = [h, c]`` then ``decoder(x, initial_state=states)``), the Keras seq2seq idiom.

Before, only a literal list was read: the named one was dropped, the encoder left the graph,
and the decoder started from zeros while the file was reported converted.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from pathlib import Path

import pytest

from agent.rules.convert import convert_source
from tests.test_functional_graphs import HEAD, converted, runs

pytestmark = pytest.mark.slow

SEQ2SEQ = '''\
def seq2seq(latent=6, enc_tokens=5, dec_tokens=7):
    encoder_inputs = keras.Input(shape=(None, enc_tokens))
    _, state_h, state_c = layers.LSTM(latent, return_state=True)(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = keras.Input(shape=(None, dec_tokens))
    decoder = layers.LSTM(latent, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder(decoder_inputs, initial_state=encoder_states)
    outputs = layers.Dense(dec_tokens, activation="softmax")(decoder_outputs)
    return keras.Model([encoder_inputs, decoder_inputs], outputs)
'''

GRU_STATES = '''\
def gru_seq2seq(latent=4):
    source = keras.Input(shape=(3, 2))
    _, state = layers.GRU(latent, return_state=True)(source)
    states = (state,)
    target = keras.Input(shape=(5, 3))
    out = layers.GRU(latent, return_sequences=True)(target, initial_state=states)
    return keras.Model([source, target], layers.Dense(2)(out))
'''


def test_named_state_list_reaches_the_decoder() -> None:
    code, _ = converted(SEQ2SEQ, "seq2seq()")
    assert "(state_h.unsqueeze(0), state_c.unsqueeze(0))" in code, code


def test_discarded_states_get_no_statements() -> None:
    """``out, _, _ = lstm(...)``: nothing is written for the ``_`` names."""
    code, _ = converted(SEQ2SEQ, "seq2seq()")
    assert "_ = _[" not in code and "_, _ = _" not in code, code


def test_a_named_tuple_of_one_gru_state_is_read_too() -> None:
    code, _ = converted(GRU_STATES, "gru_seq2seq()")
    assert "state.unsqueeze(0)" in code, code


def test_a_state_list_the_graph_did_not_make_is_reported() -> None:
    src = HEAD + '''\
def model(states):
    target = keras.Input(shape=(5, 3))
    out = layers.GRU(4)(target, initial_state=states)
    return keras.Model(target, out)
'''
    result = convert_source(src, "model.py")
    assert any("initial_state" in u.reason for u in result.unmapped), \
        [u.reason for u in result.unmapped]


def test_the_converted_seq2seq_script_trains(tmp_path: Path) -> None:
    script = HEAD + SEQ2SEQ + '''
if __name__ == "__main__":
    model = seq2seq()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    enc = np.random.rand(8, 4, 5).astype("float32")
    dec = np.random.rand(8, 3, 7).astype("float32")
    target = np.eye(7, dtype="float32")[np.random.randint(0, 7, (8, 3))]
    model.fit([enc, dec], target, batch_size=4, epochs=1)
'''
    result = convert_source(script, "script.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    runs(result.source, tmp_path)


ONE_STATE = '''\
def gru_one_state(latent=4):
    source = keras.Input(shape=(3, 2))
    _, state = layers.GRU(latent, return_state=True)(source)
    target = keras.Input(shape=(5, 3))
    out = layers.GRU(latent)(target, initial_state=state)
    return keras.Model([source, target], out)
'''


def test_one_state_tensor_without_a_list_is_read() -> None:
    code, _ = converted(ONE_STATE, "gru_one_state()")
    assert "state.unsqueeze(0)" in code, code
