"""Odd but legal code around models: the rules must say what they skip, never crash."""
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

cfg = {"units": 4}
act = tf.keras.activations.get("relu")


class Scale(layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.activation = keras.activations.get("tanh")

    def call(self, inputs):
        return self.activation(inputs) * self.factor


def tower(x, units=None):
    if units is None:
        units = cfg["units"]
    return layers.Dense(units)(x)


inp = keras.Input(shape=(3,))
a, b = tf.split(inp, 2, axis=-1) if False else (inp, inp)
h = tower(inp, cfg["units"])
h = Scale()(h)
out = layers.Dense(2, activation=act)(h)
model = keras.Model(inputs=inp, outputs=[out])
layers_list = [layers.Dense(n) for n in range(1, 3)]
seq = keras.Sequential(layers_list)
empty = keras.Sequential()
named = keras.Model(inp, out, name="")


def ffn(units_list, rate, name=None):
    stack = []
    for units in units_list:
        stack.append(layers.Dropout(rate))
        stack.append(layers.Dense(units, activation=tf.nn.gelu))
    return keras.Sequential(stack, name=name)
