"""Tabular classifier: a Sequential MLP trained on synthetic data."""

import numpy as np
from tensorflow import keras

NUM_FEATURES = 20
NUM_CLASSES = 4


def make_data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, NUM_FEATURES)).astype("float32")
    labels = (x[:, :NUM_CLASSES]).argmax(axis=1)
    y = keras.utils.to_categorical(labels, NUM_CLASSES)
    return x, y


def build_model(hidden=64, dropout=0.2):
    model = keras.Sequential([
        keras.layers.Dense(hidden, activation="relu", input_shape=(NUM_FEATURES,)),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(dropout),
        keras.layers.Dense(hidden // 2, activation="relu"),
        keras.layers.Dense(NUM_CLASSES, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.fit(x, y, batch_size=32, epochs=3, validation_split=0.2)
    loss, accuracy = model.evaluate(x, y)
    print(f"loss {loss:.3f}, accuracy {accuracy:.3f}")
