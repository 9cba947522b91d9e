# k2l-eval: tier=2 features=sequential,simple_rnn,rnn,timeseries,compile,fit,numpy_data imports=keras2 builder=build_model
"""Parity-of-bits task with a SimpleRNN (Keras 2 standalone imports)."""
import numpy as np
from keras.models import Sequential
from keras.layers import SimpleRNN, Dense, Input

SEQ = 12


def make_data(n=2000, seed=38):
    rng = np.random.RandomState(seed)
    bits = rng.randint(0, 2, size=(n, SEQ, 1)).astype("float32")
    y = (bits.sum(axis=(1, 2)) % 2).astype("float32")
    return bits, y


def build_model(units=24):
    model = Sequential()
    model.add(Input(shape=(SEQ, 1)))
    model.add(SimpleRNN(units, activation="tanh"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.fit(x, y, batch_size=32, epochs=5, validation_split=0.1)
