# k2l-eval: tier=1 features=sequential,compile,fit,callbacks,checkpoint,numpy_data imports=keras3 builder=build_model
"""Training with ModelCheckpoint, EarlyStopping and CSVLogger into a temporary directory."""
import os
import tempfile

import keras
import numpy as np


def build_model(n_features=20, n_classes=3):
    model = keras.Sequential([
        keras.layers.Input(shape=(n_features,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    return model


def train(workdir):
    rng = np.random.default_rng(15)
    x = rng.normal(size=(900, 20)).astype("float32")
    y = np.argmax(x[:, :3], axis=1)
    model = build_model()
    cbs = [
        keras.callbacks.ModelCheckpoint(os.path.join(workdir, "best.keras"), monitor="val_loss",
                                        save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=4),
        keras.callbacks.CSVLogger(os.path.join(workdir, "log.csv")),
    ]
    model.fit(x, y, epochs=12, batch_size=64, validation_split=0.25, callbacks=cbs)
    return model


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        train(tmp)
