# k2l-eval: tier=1 features=sequential,compile,fit,predict,numpy_data imports=keras3-from builder=build_model
"""Fit, then predict class labels with argmax and report a confusion matrix by hand."""
import numpy as np
from keras import Sequential, layers

N_CLASSES = 3


def make_data(n=900, seed=21):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, size=n)
    angles = y * (2 * np.pi / N_CLASSES) + rng.normal(scale=0.4, size=n)
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1) * rng.uniform(0.5, 1.5, size=(n, 1))
    return x.astype("float32"), y


def build_model():
    model = Sequential([
        layers.Input(shape=(2,)),
        layers.Dense(16, activation="tanh"),
        layers.Dense(16, activation="tanh"),
        layers.Dense(N_CLASSES, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def confusion(y_true, y_pred):
    m = np.zeros((N_CLASSES, N_CLASSES), dtype=int)
    for t, p in zip(y_true, y_pred):
        m[t, p] += 1
    return m


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    pred = np.argmax(model.predict(x, batch_size=128), axis=-1)
    print(confusion(y, pred))
