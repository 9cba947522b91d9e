# k2l-eval: tier=2 features=lr_schedule,callbacks,sequential,compile,fit,numpy_data imports=keras3 builder=build_model
"""Step decay with a LearningRateScheduler callback and a TerminateOnNaN guard."""
import math

import keras
import numpy as np


def step_decay(epoch, lr):
    drop, epochs_drop = 0.5, 3
    return 0.01 * math.pow(drop, math.floor((1 + epoch) / epochs_drop))


def build_model():
    model = keras.Sequential([
        keras.Input(shape=(10,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), loss="mse")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(41)
    x = rng.normal(size=(800, 10)).astype("float32")
    y = x @ rng.normal(size=(10,))
    model = build_model()
    model.fit(x, y, epochs=9, batch_size=32,
              callbacks=[keras.callbacks.LearningRateScheduler(step_decay, verbose=1),
                         keras.callbacks.TerminateOnNaN()])
