# k2l-eval: tier=2 features=lambda,functional,tf_ops,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""Lambda layers for scaling, L2 normalisation and a mean over features."""
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers


def build_model(n_features=20, embed=16):
    inputs = keras.Input(shape=(n_features,))
    x = layers.Lambda(lambda t: t * 0.5 + 1.0, name="rescale")(inputs)
    x = layers.Dense(embed, activation="relu")(x)
    normed = layers.Lambda(lambda t: t / (tf.norm(t, axis=-1, keepdims=True) + 1e-6))(x)
    pooled = layers.Lambda(lambda t: tf.reduce_mean(t, axis=-1, keepdims=True))(normed)
    outputs = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([normed, pooled]))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(32)
    x = rng.normal(size=(700, 20)).astype("float32")
    y = (x.mean(axis=1) > 0).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=3, batch_size=32)
