# k2l-eval: tier=2 features=multi_input,functional,embedding,merge_concat,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""Two inputs (numeric features and a categorical id) joined into one regression head."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

N_NUMERIC = 6
N_STORES = 50


def build_model():
    numeric = keras.Input(shape=(N_NUMERIC,), name="numeric")
    store = keras.Input(shape=(1,), name="store_id", dtype="int32")
    emb = layers.Embedding(N_STORES, 4)(store)
    emb = layers.Flatten()(emb)
    x = layers.Concatenate()([numeric, emb])
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dense(16, activation="relu")(x)
    sales = layers.Dense(1, name="sales")(x)
    model = keras.Model(inputs=[numeric, store], outputs=sales)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(35)
    n = 2000
    numeric = rng.normal(size=(n, N_NUMERIC)).astype("float32")
    store = rng.integers(0, N_STORES, size=(n, 1))
    effect = rng.normal(size=N_STORES)
    y = numeric[:, 0] * 2 + effect[store[:, 0]]
    model = build_model()
    model.fit({"numeric": numeric, "store_id": store}, y, epochs=5, batch_size=64)
