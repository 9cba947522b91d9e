# k2l-eval: tier=3 features=custom_loss,tf_ops,functional,multi_output,compile,fit,numpy_data imports=tf.keras builder=build_model
"""Mixture density network: softmax/softplus heads and a negative log-likelihood in tf.math."""
import math

import numpy as np
import tensorflow as tf

K_MIX = 5


def mdn_loss(y_true, y_pred):
    pi, mu, sigma = tf.split(y_pred, 3, axis=-1)
    y = tf.tile(y_true, [1, K_MIX])
    log_norm = -0.5 * tf.square((y - mu) / sigma) - tf.math.log(sigma) - 0.5 * math.log(2 * math.pi)
    return -tf.reduce_mean(tf.reduce_logsumexp(tf.math.log(pi + 1e-8) + log_norm, axis=-1))


def build_model(hidden=32):
    inputs = tf.keras.Input(shape=(1,))
    h = tf.keras.layers.Dense(hidden, activation="tanh")(inputs)
    h = tf.keras.layers.Dense(hidden, activation="tanh")(h)
    pi = tf.keras.layers.Dense(K_MIX, activation="softmax", name="pi")(h)
    mu = tf.keras.layers.Dense(K_MIX, name="mu")(h)
    sigma = tf.keras.layers.Dense(K_MIX, activation="softplus", name="sigma")(h)
    sigma = tf.keras.layers.Lambda(lambda s: s + 1e-3)(sigma)
    outputs = tf.keras.layers.Concatenate()([pi, mu, sigma])
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss=mdn_loss)
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(81)
    y = rng.uniform(-10, 10, size=(2000, 1)).astype("float32")
    x = (np.sin(0.75 * y) * 7.0 + y * 0.5 + rng.normal(size=y.shape)).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=5, batch_size=100)
