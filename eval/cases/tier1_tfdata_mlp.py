# k2l-eval: tier=1 features=sequential,tf_data,compile,fit,evaluate imports=tf.keras builder=build_model
"""MLP trained from a tf.data pipeline (from_tensor_slices, shuffle, batch, prefetch)."""
import numpy as np
import tensorflow as tf

N_FEATURES = 10
BATCH = 32


def make_datasets(n=1000, seed=10):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype("float32")
    y = (np.abs(x[:, 0]) + x[:, 1] > 1).astype("int32")
    train = tf.data.Dataset.from_tensor_slices((x[:800], y[:800]))
    train = train.shuffle(800, seed=seed).batch(BATCH).prefetch(tf.data.AUTOTUNE)
    test = tf.data.Dataset.from_tensor_slices((x[800:], y[800:])).batch(BATCH)
    return train, test


def build_model():
    model = tf.keras.Sequential([
        tf.keras.layers.Input(shape=(N_FEATURES,)),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(2),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


if __name__ == "__main__":
    train_ds, test_ds = make_datasets()
    model = build_model()
    model.fit(train_ds, epochs=5, validation_data=test_ds)
    model.evaluate(test_ds)
