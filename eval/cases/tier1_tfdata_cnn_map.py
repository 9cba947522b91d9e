# k2l-eval: tier=1 features=sequential,cnn,channels_last,tf_data,compile,fit imports=tf.keras-from builder=build_model
"""Image classifier fed by tf.data with a map() normalisation step."""
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers, models

IMG = 24


def normalize(image, label):
    return tf.cast(image, tf.float32) / 255.0, label


def make_dataset(n=320, seed=11):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, IMG, IMG, 3)).astype("uint8")
    labels = (images[:, :, :, 1].mean(axis=(1, 2)) > 127).astype("int64")
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    return ds.map(normalize).shuffle(n).batch(32)


def build_model():
    model = models.Sequential([
        layers.Input((IMG, IMG, 3)),
        layers.Conv2D(16, 3, activation="relu", padding="same"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, activation="relu", padding="same"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(2),
    ])
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


if __name__ == "__main__":
    model = build_model()
    model.fit(make_dataset(), epochs=3)
