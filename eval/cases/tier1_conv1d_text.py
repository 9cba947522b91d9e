# k2l-eval: tier=1 features=sequential,embedding,conv1d,text,compile,fit,evaluate,numpy_data imports=tf.keras builder=build_model
"""Convolutional text classifier: Embedding + Conv1D + GlobalMaxPooling1D (IMDB CNN recipe)."""
import numpy as np
import tensorflow as tf

max_features = 1000
maxlen = 64
embedding_dims = 32
filters = 64
kernel_size = 3
hidden_dims = 64


def make_data(n=512, seed=9):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, max_features, size=(n, maxlen))
    y = (np.isin(x, np.arange(10, 60)).sum(axis=1) > 2).astype("float32")
    return x, y


def build_model():
    model = tf.keras.models.Sequential()
    model.add(tf.keras.layers.Input(shape=(maxlen,)))
    model.add(tf.keras.layers.Embedding(max_features, embedding_dims))
    model.add(tf.keras.layers.Dropout(0.2))
    model.add(tf.keras.layers.Conv1D(filters, kernel_size, padding="valid", activation="relu",
                                     strides=1))
    model.add(tf.keras.layers.GlobalMaxPooling1D())
    model.add(tf.keras.layers.Dense(hidden_dims))
    model.add(tf.keras.layers.Dropout(0.2))
    model.add(tf.keras.layers.Activation("relu"))
    model.add(tf.keras.layers.Dense(1))
    model.add(tf.keras.layers.Activation("sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.fit(x, y, batch_size=32, epochs=2, validation_data=(x[:100], y[:100]))
    print(model.evaluate(x[:100], y[:100]))
