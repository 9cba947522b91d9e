# k2l-eval: tier=2 features=custom_layer,functional,compile,fit,numpy_data imports=keras3 builder=build_model
"""A gated linear unit layer with its own weights, get_config and a configurable activation."""
import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="demo")
class GatedLinearUnit(keras.layers.Layer):
    def __init__(self, units, activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(dim, 2 * self.units), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(2 * self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        h = ops.matmul(inputs, self.kernel) + self.bias
        value, gate = ops.split(h, 2, axis=-1)
        return value * self.activation(gate)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}


def build_model(n_features=18):
    inputs = keras.Input(shape=(n_features,))
    x = GatedLinearUnit(32)(inputs)
    x = GatedLinearUnit(16, activation="tanh")(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mae")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(44)
    x = rng.normal(size=(1000, 18)).astype("float32")
    y = np.abs(x[:, :3]).sum(axis=1)
    model = build_model()
    model.fit(x, y, epochs=4, batch_size=40)
