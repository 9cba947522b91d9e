# k2l-eval: tier=1 features=functional,cnn,channels_last,pooling,compile,fit,numpy_data imports=tf.keras builder=build_model
"""Strided convolutions, 'same' padding and AveragePooling2D on 48x48 RGB images."""
import numpy as np
import tensorflow as tf


def build_model(num_classes=4):
    inputs = tf.keras.Input(shape=(48, 48, 3))
    x = tf.keras.layers.Conv2D(16, 5, strides=2, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = tf.keras.layers.AveragePooling2D(pool_size=2)(x)
    x = tf.keras.layers.Conv2D(64, 3, padding="valid", activation="relu")(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dense(num_classes)(x)
    outputs = tf.keras.layers.Softmax()(x)
    model = tf.keras.Model(inputs, outputs)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=5e-4),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(18)
    images = rng.random((200, 48, 48, 3), dtype=np.float32)
    labels = rng.integers(0, 4, 200)
    model = build_model()
    model.fit(images, labels, batch_size=20, epochs=2)
