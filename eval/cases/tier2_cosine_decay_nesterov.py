# k2l-eval: tier=2 features=lr_schedule,functional,batchnorm,compile,fit,numpy_data imports=keras3-from builder=build_model
"""CosineDecay with warm restarts-free schedule on SGD+Nesterov, label smoothing in the loss."""
import numpy as np
from keras import Input, Model, layers, losses, optimizers


def build_model(steps=200, n_classes=6):
    schedule = optimizers.schedules.CosineDecay(initial_learning_rate=0.1, decay_steps=steps,
                                                alpha=0.01)
    inputs = Input(shape=(40,))
    x = layers.Dense(128)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    model = Model(inputs, outputs)
    model.compile(optimizer=optimizers.SGD(learning_rate=schedule, momentum=0.9, nesterov=True),
                  loss=losses.CategoricalCrossentropy(label_smoothing=0.1), metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(46)
    x = rng.normal(size=(1600, 40)).astype("float32")
    labels = np.argmax(x[:, :6], axis=1)
    y = np.eye(6, dtype="float32")[labels]
    model = build_model()
    model.fit(x, y, epochs=4, batch_size=32)
