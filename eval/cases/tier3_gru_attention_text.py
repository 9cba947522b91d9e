# k2l-eval: tier=3 features=attention,custom_layer,gru,rnn,bidirectional,embedding,text,tf_ops,functional,compile,fit,numpy_data imports=tf.keras builder=build_model
"""Hierarchical-attention style text model: BiGRU outputs pooled by an additive attention layer."""
import numpy as np
import tensorflow as tf

VOCAB = 1000
MAXLEN = 40


class AdditiveAttentionPool(tf.keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.W = self.add_weight(name="att_W", shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform")
        self.b = self.add_weight(name="att_b", shape=(self.units,), initializer="zeros")
        self.u = self.add_weight(name="att_u", shape=(self.units, 1), initializer="glorot_uniform")

    def call(self, h):
        score = tf.tanh(tf.tensordot(h, self.W, axes=1) + self.b)
        weights = tf.nn.softmax(tf.tensordot(score, self.u, axes=1), axis=1)
        return tf.reduce_sum(weights * h, axis=1)


def build_model(embed=32, units=16):
    tokens = tf.keras.Input(shape=(MAXLEN,), dtype="int32")
    x = tf.keras.layers.Embedding(VOCAB, embed)(tokens)
    x = tf.keras.layers.Bidirectional(tf.keras.layers.GRU(units, return_sequences=True))(x)
    x = AdditiveAttentionPool(32)(x)
    outputs = tf.keras.layers.Dense(1, activation="sigmoid")(x)
    model = tf.keras.Model(tokens, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(86)
    x = rng.integers(1, VOCAB, (500, MAXLEN))
    y = (x == 7).any(axis=1).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=2, batch_size=32)
