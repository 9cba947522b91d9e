"""Padded sequences: mask_zero in front of an LSTM."""
from tensorflow import keras
from tensorflow.keras import layers

max_features = 50

model = keras.Sequential([
    layers.Embedding(max_features, 8, mask_zero=True, input_length=12),
    layers.LSTM(6),
    layers.Dense(1, activation="sigmoid"),
])

inputs = keras.Input(shape=(None,), dtype="int32")
x = layers.Masking(mask_value=0.0)(layers.Embedding(max_features, 4)(inputs))
outputs = layers.GRU(3)(x)
model2 = keras.Model(inputs, outputs)
