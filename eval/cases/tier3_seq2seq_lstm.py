# k2l-eval: tier=3 features=seq2seq,lstm,rnn,multi_input,functional,compile,fit,numpy_data imports=keras3-from builder=build_model
"""Character-level seq2seq (the Keras lstm_seq2seq example): encoder states feed the decoder."""
import numpy as np
import keras
from keras import layers

NUM_ENCODER_TOKENS = 20
NUM_DECODER_TOKENS = 22
LATENT_DIM = 64


def build_model():
    encoder_inputs = keras.Input(shape=(None, NUM_ENCODER_TOKENS))
    encoder = layers.LSTM(LATENT_DIM, return_state=True)
    _, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = keras.Input(shape=(None, NUM_DECODER_TOKENS))
    decoder_lstm = layers.LSTM(LATENT_DIM, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = layers.Dense(NUM_DECODER_TOKENS, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def one_hot_batch(n=256, enc_len=12, dec_len=14, seed=78):
    rng = np.random.default_rng(seed)
    enc = np.eye(NUM_ENCODER_TOKENS, dtype="float32")[rng.integers(0, NUM_ENCODER_TOKENS, (n, enc_len))]
    target_ids = rng.integers(0, NUM_DECODER_TOKENS, (n, dec_len))
    dec_in = np.eye(NUM_DECODER_TOKENS, dtype="float32")[np.roll(target_ids, 1, axis=1)]
    dec_out = np.eye(NUM_DECODER_TOKENS, dtype="float32")[target_ids]
    return enc, dec_in, dec_out


if __name__ == "__main__":
    enc, dec_in, dec_out = one_hot_batch()
    model = build_model()
    model.fit([enc, dec_in], dec_out, batch_size=32, epochs=2, validation_split=0.2)
