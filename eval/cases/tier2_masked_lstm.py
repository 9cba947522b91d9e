# k2l-eval: tier=2 features=sequential,embedding,lstm,rnn,masking,text,compile,fit,numpy_data imports=keras3 builder=build_model
"""Variable-length token sequences, zero-padded, with Embedding(mask_zero=True) + LSTM."""
import keras
import numpy as np

VOCAB = 300
MAXLEN = 25


def make_data(n=500, seed=47):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, MAXLEN, size=n)
    seqs = [rng.integers(1, VOCAB, size=k) for k in lengths]
    y = np.array([float((s < 50).any()) for s in seqs], dtype="float32")
    x = keras.utils.pad_sequences(seqs, maxlen=MAXLEN, padding="post")
    return x, y


def build_model():
    model = keras.Sequential([
        keras.Input(shape=(MAXLEN,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 16, mask_zero=True),
        keras.layers.LSTM(16),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.fit(x, y, epochs=3, batch_size=32)
