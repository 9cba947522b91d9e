# k2l-eval: tier=1 features=sequential,embedding,lstm,rnn,text,compile,fit,evaluate,numpy_data imports=tf.keras-from builder=build_model
"""Sentiment-style text classifier: Embedding + LSTM on synthetic token sequences."""
import numpy as np
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense, Embedding, LSTM

MAX_FEATURES = 2000
MAXLEN = 40


def make_data(n=800, seed=6):
    """Positive reviews use more tokens from the upper half of the vocabulary."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.integers(1, MAX_FEATURES // 2, size=(n, MAXLEN))
    bump = rng.integers(MAX_FEATURES // 2, MAX_FEATURES, size=(n, MAXLEN))
    mask = rng.random((n, MAXLEN)) < 0.3
    x = np.where(mask & (y[:, None] == 1), bump, x)
    return x.astype("int32"), y.astype("float32")


def build_model(embed_dim=64, units=32):
    model = Sequential()
    model.add(Embedding(MAX_FEATURES, embed_dim))
    model.add(LSTM(units, dropout=0.2, recurrent_dropout=0.0))
    model.add(Dense(1, activation="sigmoid"))
    model.build(input_shape=(None, MAXLEN))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.fit(x[:600], y[:600], batch_size=32, epochs=2, validation_data=(x[600:], y[600:]))
    score, acc = model.evaluate(x[600:], y[600:], batch_size=32)
    print("Test score:", score, "accuracy:", acc)
