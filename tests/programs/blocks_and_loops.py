"""A residual CNN built from helper functions and loops."""
import keras
from keras import layers

WIDTHS = (8, 16)


def conv_bn(x, filters, strides=1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def residual(x, filters):
    skip = layers.Conv2D(filters, 1, strides=2)(x)
    x = conv_bn(x, filters, strides=2)
    x = conv_bn(x, filters)
    return layers.add([x, skip])


def get_model(size=16, classes=3):
    inputs = keras.Input((size, size, 3))
    x = conv_bn(inputs, 8)
    for width in WIDTHS:
        x = residual(x, width)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="resnetish")
