# k2l-eval: tier=1 features=functional,merge_add,layernorm,compile,fit,numpy_data imports=keras3 builder=build_model
"""Residual MLP: functional API with Add skip connections and LayerNormalization."""
import keras
import numpy as np
from keras import layers

N_FEATURES = 32


def residual_block(x, width):
    h = layers.Dense(width, activation="gelu")(x)
    h = layers.Dense(width)(h)
    x = layers.Add()([x, h])
    return layers.LayerNormalization()(x)


def build_model(width=32, depth=3):
    inputs = keras.Input(shape=(N_FEATURES,))
    x = layers.Dense(width)(inputs)
    for _ in range(depth):
        x = residual_block(x, width)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
                  loss="mse")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(12)
    x = rng.normal(size=(1024, N_FEATURES)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(N_FEATURES, 1))).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=5, batch_size=64)
