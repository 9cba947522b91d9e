# k2l-eval: tier=2 features=shared_layers,multi_input,functional,lambda,compile,fit,numpy_data imports=keras3 builder=build_model
"""A siamese network: one encoder applied to two inputs, absolute difference, similarity head."""
import keras
import numpy as np
from keras import layers, ops

DIM = 16


def build_encoder():
    inputs = keras.Input(shape=(DIM,))
    x = layers.Dense(32, activation="relu")(inputs)
    x = layers.Dense(16)(x)
    return keras.Model(inputs, x, name="encoder")


def build_model():
    encoder = build_encoder()
    left = keras.Input(shape=(DIM,), name="left")
    right = keras.Input(shape=(DIM,), name="right")
    diff = layers.Lambda(lambda t: ops.abs(t[0] - t[1]))([encoder(left), encoder(right)])
    out = layers.Dense(1, activation="sigmoid")(diff)
    model = keras.Model([left, right], out)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(49)
    a = rng.normal(size=(1000, DIM)).astype("float32")
    same = rng.random(1000) < 0.5
    b = np.where(same[:, None], a + 0.1 * rng.normal(size=a.shape), rng.normal(size=a.shape))
    model = build_model()
    model.fit([a, b.astype("float32")], same.astype("float32"), epochs=4, batch_size=32)
