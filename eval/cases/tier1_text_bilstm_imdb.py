# k2l-eval: tier=1 features=sequential,embedding,lstm,rnn,bidirectional,text,compile,fit,evaluate,numpy_data imports=keras3-from builder=build_model
"""Two stacked bidirectional LSTMs over token ids (the Keras "Bidirectional LSTM on IMDB" example)."""
import numpy as np
import keras
from keras import layers

MAX_FEATURES = 2000  # only the top words
MAXLEN = 40  # first words of each review


def make_reviews(n=600, seed=22):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.integers(2, MAX_FEATURES, size=(n, MAXLEN))
    good_words = rng.integers(2, 50, size=(n, MAXLEN))
    x = np.where((rng.random((n, MAXLEN)) < 0.2) & (y[:, None] == 1), good_words, x)
    return x, y


def build_model(embed_dim=64, units=32):
    inputs = keras.Input(shape=(MAXLEN,), dtype="int32")
    x = layers.Embedding(MAX_FEATURES, embed_dim)(inputs)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(units))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_reviews()
    model = build_model()
    model.fit(x[:500], y[:500], batch_size=32, epochs=2, validation_data=(x[500:], y[500:]))
    print(model.evaluate(x[500:], y[500:], verbose=0))
