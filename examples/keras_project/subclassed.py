"""A subclassed model using a custom layer with trainable weights (build + add_weight)."""

import numpy as np
import tensorflow as tf
from tensorflow import keras


class ScaledDense(keras.layers.Layer):
    """Dense layer with a learned per-unit output scale."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer="glorot_uniform", trainable=True)
        self.scale = self.add_weight(name="scale", shape=(self.units,), initializer="ones",
                                     trainable=True)

    def call(self, inputs):
        return tf.matmul(inputs, self.kernel) * self.scale

    def get_config(self):
        return {"units": self.units}


class Regressor(keras.Model):
    def __init__(self, hidden=32):
        super().__init__()
        self.hidden = keras.layers.Dense(hidden, activation="relu")
        self.scaled = ScaledDense(8)
        self.out = keras.layers.Dense(1)

    def call(self, inputs, training=None):
        x = self.hidden(inputs)
        x = self.scaled(x)
        return self.out(x)


if __name__ == "__main__":
    rng = np.random.default_rng(4)
    x = rng.normal(size=(256, 6)).astype("float32")
    y = (x ** 2).sum(axis=1, keepdims=True).astype("float32")
    model = Regressor()
    model.build((None, 6))
    model.summary()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=32)
