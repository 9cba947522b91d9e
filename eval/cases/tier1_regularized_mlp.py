# k2l-eval: tier=1 features=sequential,regularizers,initializers,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""MLP with L2 kernel regularizers, he_normal initialisation and a Huber loss."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers, regularizers


def build_model(n_features=15, l2=1e-4):
    model = keras.Sequential([
        layers.Input(shape=(n_features,)),
        layers.Dense(64, activation="elu", kernel_initializer="he_normal",
                     kernel_regularizer=regularizers.l2(l2)),
        layers.Dense(64, activation="elu", kernel_initializer="he_normal",
                     kernel_regularizer=regularizers.l2(l2)),
        layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Nadam(learning_rate=2e-3),
                  loss=keras.losses.Huber(delta=1.0), metrics=["mae"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(20)
    x = rng.normal(size=(1500, 15)).astype("float32")
    y = (x[:, 0] ** 2 + rng.standard_t(2, size=1500) * 0.1).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=6, batch_size=50, validation_split=0.2)
