# k2l-eval: tier=3 features=shared_layers,multi_input,lambda,tf_ops,custom_loss,functional,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""Siamese network with a Euclidean-distance Lambda (tf ops) and a contrastive loss."""
import numpy as np
import tensorflow as tf
from tensorflow.keras import Model
from tensorflow.keras.layers import Dense, Input, Lambda


def euclidean_distance(vects):
    x, y = vects
    sum_square = tf.reduce_sum(tf.square(x - y), axis=1, keepdims=True)
    return tf.sqrt(tf.maximum(sum_square, 1e-7))


def contrastive_loss(margin=1.0):
    def loss(y_true, y_pred):
        square_pred = tf.square(y_pred)
        margin_square = tf.square(tf.maximum(margin - y_pred, 0))
        return tf.reduce_mean((1 - y_true) * square_pred + y_true * margin_square)
    return loss


def build_model(dim=20):
    base = tf.keras.Sequential([Input(shape=(dim,)), Dense(32, activation="relu"), Dense(8)])
    a = Input(shape=(dim,))
    b = Input(shape=(dim,))
    distance = Lambda(euclidean_distance)([base(a), base(b)])
    model = Model([a, b], distance)
    model.compile(loss=contrastive_loss(margin=1.0), optimizer="rmsprop")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(77)
    x1 = rng.normal(size=(1000, 20)).astype("float32")
    different = rng.random(1000) < 0.5
    x2 = np.where(different[:, None], rng.normal(size=x1.shape), x1 + 0.05).astype("float32")
    model = build_model()
    model.fit([x1, x2], different.astype("float32"), batch_size=64, epochs=3)
