# k2l-eval: tier=1 features=sequential,compile,fit,evaluate,numpy_data imports=tf.keras builder=build_model
"""Binary classifier on synthetic tabular data (tf.keras, Sequential list form)."""
import numpy as np
import tensorflow as tf

N_FEATURES = 16


def make_data(n=1024, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype("float32")
    w = rng.normal(size=(N_FEATURES,))
    y = (x @ w + 0.1 * rng.normal(size=n) > 0).astype("float32")
    return x, y


def build_model(hidden=32):
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(N_FEATURES,)),
        tf.keras.layers.Dense(hidden, activation="relu"),
        tf.keras.layers.Dense(hidden // 2, activation="relu"),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    x_train, x_test = x[:800], x[800:]
    y_train, y_test = y[:800], y[800:]
    model = build_model()
    model.fit(x_train, y_train, batch_size=64, epochs=5, verbose=2)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.3f} accuracy {acc:.3f}")
