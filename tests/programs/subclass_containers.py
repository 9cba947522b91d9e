"""A transformer block as people write it: a Sequential and a list of layers inside."""
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers


class FeedForward(layers.Layer):
    def __init__(self, dim, hidden, rate=0.1):
        super().__init__()
        self.ffn = keras.Sequential([layers.Dense(hidden, activation="relu"), layers.Dense(dim)])
        self.norm = layers.LayerNormalization(epsilon=1e-6)
        self.drop = layers.Dropout(rate)

    def call(self, x, training=False):
        return self.norm(x + self.drop(self.ffn(x), training=training))


class Tower(keras.Model):
    def __init__(self, dim=8, depth=2):
        super().__init__()
        self.blocks = [FeedForward(dim, 2 * dim) for _ in range(depth)]
        self.head = layers.Dense(1)

    def call(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(tf.reduce_mean(x, axis=1))
