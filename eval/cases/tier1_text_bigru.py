# k2l-eval: tier=1 features=functional,embedding,gru,rnn,bidirectional,text,compile,fit,numpy_data imports=keras3 builder=build_model
"""Bidirectional GRU text classifier with the functional API (Keras 3 spelling)."""
import keras
import numpy as np

VOCAB = 500
SEQ_LEN = 30
NUM_TOPICS = 3


def make_data(n=600, seed=8):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, NUM_TOPICS, size=n)
    x = rng.integers(1, VOCAB, size=(n, SEQ_LEN))
    x[:, :5] = (y[:, None] * 100 + rng.integers(0, 100, size=(n, 5))) % VOCAB
    return x, y


def build_model(embed_dim=32, units=24):
    tokens = keras.Input(shape=(SEQ_LEN,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, embed_dim)(tokens)
    x = keras.layers.Bidirectional(keras.layers.GRU(units))(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(NUM_TOPICS, activation="softmax")(x)
    model = keras.Model(tokens, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2)
