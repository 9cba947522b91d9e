"""Sizes that only the data knows: an embedding matrix, x_train.shape[1:]."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

x_train = np.zeros((32, 20), dtype="int64")
vocab = int(x_train.max()) + 2
embedding_dim = 8


def make_model(seq_len):
    inputs = keras.Input(shape=x_train.shape[1:], dtype="int64")
    x = layers.Embedding(vocab, embedding_dim)(inputs)
    x = layers.Conv1D(16, 5, activation="relu")(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(16, 3, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(8, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))


model = make_model(x_train.shape[1])
