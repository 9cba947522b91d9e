# k2l-eval: tier=1 features=functional,compile,fit,evaluate,predict,callbacks,numpy_data imports=keras3-from builder=build_model
"""House-price style regression with the functional API and ReduceLROnPlateau."""
import numpy as np
from keras import Input, Model, callbacks, layers, optimizers

N_FEATURES = 8


def make_data(n=2000, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, N_FEATURES)).astype("float32")
    y = 3.0 * x[:, 0] - 2.0 * x[:, 1] ** 2 + np.sin(3 * x[:, 2]) + 0.05 * rng.normal(size=n)
    return x, y.astype("float32")[:, None]


def build_model(units=64):
    inputs = Input(shape=(N_FEATURES,), name="features")
    x = layers.Dense(units, activation="relu")(inputs)
    x = layers.Dense(units, activation="relu")(x)
    x = layers.Dense(units // 2, activation="tanh")(x)
    outputs = layers.Dense(1, name="price")(x)
    model = Model(inputs=inputs, outputs=outputs, name="regressor")
    model.compile(optimizer=optimizers.RMSprop(learning_rate=1e-3), loss="mse", metrics=["mae"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    reduce_lr = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5)
    history = model.fit(x, y, epochs=15, batch_size=64, validation_split=0.1, callbacks=[reduce_lr])
    print("final val mae", history.history["val_mae"][-1])
    preds = model.predict(x[:5])
    print(np.c_[preds, y[:5]])
