# k2l-eval: tier=3 features=attention,custom_layer,tf_ops,functional,compile,fit,numpy_data imports=tf.keras builder=build_model
"""Multi-head self-attention written with tf.matmul / tf.reshape / tf.transpose / tf.nn.softmax."""
import math

import numpy as np
import tensorflow as tf


class MultiHeadSelfAttention(tf.keras.layers.Layer):
    def __init__(self, embed_dim, num_heads=4, **kwargs):
        super().__init__(**kwargs)
        if embed_dim % num_heads != 0:
            raise ValueError("embed_dim must be divisible by num_heads")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.depth = embed_dim // num_heads
        self.wq = tf.keras.layers.Dense(embed_dim)
        self.wk = tf.keras.layers.Dense(embed_dim)
        self.wv = tf.keras.layers.Dense(embed_dim)
        self.dense = tf.keras.layers.Dense(embed_dim)

    def split_heads(self, x, batch_size):
        x = tf.reshape(x, (batch_size, -1, self.num_heads, self.depth))
        return tf.transpose(x, [0, 2, 1, 3])

    def call(self, x):
        batch_size = tf.shape(x)[0]
        q = self.split_heads(self.wq(x), batch_size)
        k = self.split_heads(self.wk(x), batch_size)
        v = self.split_heads(self.wv(x), batch_size)
        scores = tf.matmul(q, tf.transpose(k, [0, 1, 3, 2])) / math.sqrt(self.depth)
        weights = tf.nn.softmax(scores, axis=-1)
        out = tf.matmul(weights, v)
        out = tf.transpose(out, [0, 2, 1, 3])
        out = tf.reshape(out, (batch_size, -1, self.embed_dim))
        return self.dense(out)


def build_model(seq_len=20, features=8, embed_dim=32):
    inputs = tf.keras.Input(shape=(seq_len, features))
    x = tf.keras.layers.Dense(embed_dim)(inputs)
    x = x + MultiHeadSelfAttention(embed_dim, num_heads=4)(x)
    x = tf.keras.layers.LayerNormalization()(x)
    x = tf.keras.layers.GlobalAveragePooling1D()(x)
    outputs = tf.keras.layers.Dense(1)(x)
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(65)
    x = rng.normal(size=(512, 20, 8)).astype("float32")
    y = x[:, :, 0].max(axis=1, keepdims=True)
    model = build_model()
    model.fit(x, y, epochs=3, batch_size=32)
