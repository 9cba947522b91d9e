"""Image classifier on 28x28x1 arrays (channels_last), as for MNIST."""

import numpy as np
import tensorflow as tf
from tensorflow.keras import layers


def make_images(n=256, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=(n,))
    return x, y


def build_cnn(num_classes=10):
    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=(28, 28, 1)))
    model.add(layers.Conv2D(16, 3, padding="same", activation="relu"))
    model.add(layers.MaxPooling2D())
    model.add(layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"))
    model.add(layers.BatchNormalization())
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(num_classes))
    model.compile(
        optimizer=tf.keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


if __name__ == "__main__":
    x, y = make_images()
    model = build_cnn()
    model.fit(x, y, batch_size=64, epochs=2, validation_split=0.1)
