# k2l-eval: tier=3 features=tf_ops,custom_layer,functional,compile,fit,numpy_data imports=tf.keras builder=build_model
"""Set-style pooling layer full of tf ops: expand_dims, tile, concat, reduce_max, squeeze."""
import numpy as np
import tensorflow as tf


class PairwisePool(tf.keras.layers.Layer):
    """For a set of N items, features of every pair, max-pooled back to one vector per item."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.proj = tf.keras.layers.Dense(units)

    def call(self, x):
        n = tf.shape(x)[1]
        a = tf.tile(tf.expand_dims(x, 2), [1, 1, n, 1])
        b = tf.tile(tf.expand_dims(x, 1), [1, n, 1, 1])
        pairs = tf.concat([a, b, tf.abs(a - b)], axis=-1)
        h = tf.nn.relu(self.proj(pairs))
        return tf.reduce_max(h, axis=2)


def build_model(n_items=10, features=4):
    inputs = tf.keras.Input(shape=(n_items, features))
    h = PairwisePool(32)(inputs)
    h = tf.keras.layers.Lambda(lambda t: tf.reduce_sum(t, axis=1))(h)
    h = tf.keras.layers.Dense(16, activation="relu")(h)
    out = tf.keras.layers.Dense(1)(h)
    model = tf.keras.Model(inputs, out)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(74)
    sets = rng.normal(size=(600, 10, 4)).astype("float32")
    target = np.linalg.norm(sets[:, :, None] - sets[:, None], axis=-1).max(axis=(1, 2))
    model = build_model()
    model.fit(sets, target, epochs=3, batch_size=32)
