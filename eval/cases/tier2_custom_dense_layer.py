# k2l-eval: tier=2 features=custom_layer,sequential,compile,fit,numpy_data imports=tf.keras builder=build_model
"""A custom Dense layer with build()/add_weight(), used inside a Sequential model."""
import numpy as np
import tensorflow as tf


class MyDense(tf.keras.layers.Layer):
    def __init__(self, units=32, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = tf.keras.activations.get(activation)

    def build(self, input_shape):
        self.w = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform", trainable=True)
        self.b = self.add_weight(name="bias", shape=(self.units,), initializer="zeros",
                                 trainable=True)
        super().build(input_shape)

    def call(self, inputs):
        return self.activation(tf.matmul(inputs, self.w) + self.b)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def build_model(n_features=10):
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(n_features,)),
        MyDense(32, activation="relu"),
        MyDense(32, activation="relu"),
        tf.keras.layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(31)
    x = rng.normal(size=(500, 10)).astype("float32")
    y = (x ** 2).sum(axis=1, keepdims=True).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=5, batch_size=25)
