# k2l-eval: tier=2 features=custom_loss,functional,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""A keras.losses.Loss subclass (quantile / pinball loss) for prediction intervals."""
import numpy as np
import tensorflow as tf
from tensorflow import keras


class QuantileLoss(keras.losses.Loss):
    def __init__(self, quantile=0.9, name="quantile_loss"):
        super().__init__(name=name)
        self.quantile = quantile

    def call(self, y_true, y_pred):
        error = y_true - y_pred
        return tf.reduce_mean(tf.maximum(self.quantile * error, (self.quantile - 1) * error),
                              axis=-1)


def build_model():
    inputs = keras.Input(shape=(5,))
    h = keras.layers.Dense(32, activation="relu")(inputs)
    h = keras.layers.Dense(32, activation="relu")(h)
    outputs = keras.layers.Dense(1)(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=QuantileLoss(0.9))
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(48)
    x = rng.normal(size=(1000, 5)).astype("float32")
    y = (x[:, :1] + rng.exponential(size=(1000, 1))).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=5, batch_size=32)
