# k2l-eval: tier=2 features=functional,gru,rnn,timeseries,compile,fit,numpy_data imports=keras3-from builder=build_model
"""Two stacked GRUs with dropout for multivariate sequence classification."""
import numpy as np
from keras import Input, Model, layers, optimizers

STEPS, CHANNELS, CLASSES = 50, 6, 3


def build_model(units=32):
    inputs = Input(shape=(STEPS, CHANNELS))
    x = layers.GRU(units, return_sequences=True, dropout=0.1)(inputs)
    x = layers.GRU(units)(x)
    x = layers.Dense(16, activation="relu")(x)
    outputs = layers.Dense(CLASSES, activation="softmax")(x)
    model = Model(inputs, outputs)
    model.compile(optimizer=optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(39)
    y = rng.integers(0, CLASSES, 600)
    t = np.linspace(0, 1, STEPS)
    x = np.sin(2 * np.pi * (y[:, None] + 1) * t)[:, :, None] + rng.normal(size=(600, STEPS, CHANNELS)) * 0.3
    model = build_model()
    model.fit(x.astype("float32"), y, epochs=3, batch_size=32)
