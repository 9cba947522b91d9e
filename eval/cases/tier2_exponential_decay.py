# k2l-eval: tier=2 features=lr_schedule,sequential,cnn,channels_last,compile,fit,numpy_data imports=tf.keras builder=build_model
"""A convnet trained with an ExponentialDecay learning-rate schedule passed to the optimizer."""
import numpy as np
import tensorflow as tf


def build_model(initial_lr=0.01, decay_steps=100):
    schedule = tf.keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=initial_lr, decay_steps=decay_steps, decay_rate=0.9, staircase=True)
    model = tf.keras.Sequential([
        tf.keras.layers.Input(shape=(28, 28, 1)),
        tf.keras.layers.Conv2D(8, 3, activation="relu"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=schedule, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(40)
    x = rng.random((300, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 300)
    model = build_model()
    model.fit(x, y, epochs=2, batch_size=30)
