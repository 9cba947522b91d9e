"""Functional model with two inputs (numbers + a short sequence) and a shared Dense layer."""

import numpy as np
from tensorflow import keras
from tensorflow.keras import layers


def make_data(n=256, seed=3):
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n, 12)).astype("float32")
    series = rng.normal(size=(n, 10, 4)).astype("float32")
    target = (numeric.sum(axis=1, keepdims=True) + series.mean(axis=(1, 2))[:, None]).astype("float32")
    return numeric, series, target


def build_model():
    numeric = keras.Input(shape=(12,), name="numeric")
    series = keras.Input(shape=(10, 4), name="series")
    shared = layers.Dense(8, activation="tanh")
    a = shared(numeric)
    s = layers.Conv1D(8, 3, padding="same", activation="relu")(series)
    s = layers.GlobalAveragePooling1D()(s)
    b = shared(layers.Dense(12)(s))
    merged = layers.concatenate([a, b, s])
    out = layers.Dense(1)(merged)
    model = keras.Model(inputs=[numeric, series], outputs=out)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


if __name__ == "__main__":
    numeric, series, target = make_data()
    model = build_model()
    model.fit([numeric, series], target, epochs=2, batch_size=32, validation_split=0.25)
