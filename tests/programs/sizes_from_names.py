"""Sizes held in names: builder and constructor parameters, tensor shapes, variables."""

import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

IMAGE = 32
conv_dims = (4, -1)


class PatchEncoder(layers.Layer):
    def __init__(self, patch, dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.project = layers.Conv2D(dim, kernel_size=patch, strides=patch, padding="valid")
        self.to_tokens = layers.Reshape((-1, dim))
        self.norm = layers.LayerNormalization(epsilon=1e-6)
        self.norm_no_center = layers.LayerNormalization(center=False)
        self.norm_no_scale = layers.LayerNormalization(scale=False)
        self.bn = layers.BatchNormalization()
        self.drop = layers.Dropout(rate)

    def call(self, images, training=False):
        x = self.to_tokens(self.project(images))
        x = self.norm_no_scale(self.norm_no_center(self.norm(x)))
        return self.drop(self.bn(x), training=training)


def augmenter(size):
    return keras.Sequential(
        [
            layers.Rescaling(1.0 / 255),
            layers.Resizing(size + 8, size + 8),
            layers.RandomCrop(size, size),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.1),
        ]
    )


def builder(filters, kernel, pool, strides, units=8):
    inputs = keras.Input(shape=(IMAGE, IMAGE, 3))
    x = layers.Conv2D(filters, kernel, padding="same")(inputs)
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same")(x)
    x = layers.MaxPooling2D(pool, padding="same")(x)
    x = layers.Reshape((-1, x.shape[-2] * x.shape[-1]))(x)
    x = layers.Reshape(conv_dims)(x)
    x = layers.Reshape(target_shape=dims_from_somewhere())(x)
    x = layers.LSTM(units, activation="relu", recurrent_activation=tf.nn.sigmoid)(x)
    x = layers.LSTM(units, activation="custom_thing")(x)
    return keras.Model(inputs, x)


def dims_from_somewhere():
    return (2, -1)


model = builder(8, 3, 2, 2)
aug = augmenter(IMAGE)
encoded = PatchEncoder(4, 16)(tf.zeros((1, IMAGE, IMAGE, 3)))
