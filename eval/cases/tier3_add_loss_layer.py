# k2l-eval: tier=3 features=add_loss,custom_layer,regularizers,functional,compile,fit,numpy_data imports=keras3 builder=build_model
"""A layer that calls self.add_loss() (activity sparsity penalty), as in a sparse autoencoder."""
import keras
import numpy as np
from keras import layers, ops


class ActivitySparsity(layers.Layer):
    """Identity in the forward pass; adds a KL sparsity penalty on the mean activation."""

    def __init__(self, target=0.05, weight=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.target = target
        self.weight = weight

    def call(self, inputs):
        rho_hat = ops.mean(inputs, axis=0) + 1e-6
        rho = self.target
        kl = rho * ops.log(rho / rho_hat) + (1 - rho) * ops.log((1 - rho) / (1 - rho_hat + 1e-6))
        self.add_loss(self.weight * ops.sum(kl))
        return inputs


def build_model(dim=50, code=16):
    inputs = keras.Input(shape=(dim,))
    h = layers.Dense(code, activation="sigmoid")(inputs)
    h = ActivitySparsity()(h)
    outputs = layers.Dense(dim)(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(85)
    x = (rng.random((1000, 50)) < 0.1).astype("float32")
    model = build_model()
    model.fit(x, x, epochs=5, batch_size=50)
