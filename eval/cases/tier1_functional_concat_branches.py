# k2l-eval: tier=1 features=functional,merge_concat,compile,fit,predict,numpy_data imports=tf.keras-from builder=build_model
"""Wide-and-deep style model: a wide linear branch and a deep branch, concatenated."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

N_FEATURES = 12


def build_model():
    inputs = keras.Input(shape=(N_FEATURES,))
    deep = layers.Dense(30, activation="relu")(inputs)
    deep = layers.Dense(30, activation="relu")(deep)
    concat = layers.Concatenate()([inputs, deep])
    output = layers.Dense(1)(concat)
    model = keras.Model(inputs=[inputs], outputs=[output])
    model.compile(loss="mean_squared_error", optimizer=keras.optimizers.SGD(learning_rate=1e-3))
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(13)
    x = rng.normal(size=(2000, N_FEATURES)).astype("float32")
    y = (x[:, :4].sum(axis=1, keepdims=True) + np.maximum(x[:, 4:5], 0)).astype("float32")
    model = build_model()
    model.fit(x[:1500], y[:1500], epochs=10, validation_data=(x[1500:], y[1500:]))
    print(model.predict(x[:3]))
