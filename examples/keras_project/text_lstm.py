"""Sentiment-style text model: Embedding + stacked (bi)LSTM over integer token ids."""

import numpy as np
import keras
from keras import layers

VOCAB = 1000
MAXLEN = 40


def make_tokens(n=256, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, size=(n, MAXLEN))
    y = (x[:, 0] > VOCAB // 2).astype("float32")
    return x, y


def build_text_model(embed_dim=32, units=16):
    inputs = keras.Input(shape=(MAXLEN,), dtype="int32")
    x = layers.Embedding(VOCAB, embed_dim)(inputs)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True))(x)
    x = layers.LSTM(units)(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_tokens()
    model = build_text_model()
    model.fit(x, y, batch_size=32, epochs=2)
