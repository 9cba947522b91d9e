# k2l-eval: tier=1 features=functional,autoencoder,compile,fit,predict,numpy_data imports=keras3-from builder=build_autoencoder
"""Dense autoencoder on synthetic low-rank data; reconstruction error as anomaly score."""
import numpy as np
from keras import Model, layers

INPUT_DIM = 64
LATENT = 8


def make_data(n=1000, seed=17):
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(LATENT, INPUT_DIM))
    codes = rng.normal(size=(n, LATENT))
    return (codes @ basis / np.sqrt(LATENT)).astype("float32")


def build_autoencoder():
    inputs = layers.Input(shape=(INPUT_DIM,))
    encoded = layers.Dense(32, activation="relu")(inputs)
    encoded = layers.Dense(LATENT, activation="linear", name="code")(encoded)
    decoded = layers.Dense(32, activation="relu")(encoded)
    decoded = layers.Dense(INPUT_DIM)(decoded)
    autoencoder = Model(inputs, decoded, name="autoencoder")
    autoencoder.compile(optimizer="adam", loss="mse")
    return autoencoder


if __name__ == "__main__":
    data = make_data()
    ae = build_autoencoder()
    ae.fit(data, data, epochs=10, batch_size=64, shuffle=True, validation_split=0.1)
    errors = ((ae.predict(data) - data) ** 2).mean(axis=1)
    print("mean reconstruction error", errors.mean())
