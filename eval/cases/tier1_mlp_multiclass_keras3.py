# k2l-eval: tier=1 features=sequential,compile,fit,evaluate,callbacks,numpy_data imports=keras3 builder=build_model
"""Five-class MLP written against Keras 3 (`import keras`), with early stopping."""
import keras
import numpy as np

NUM_CLASSES = 5
N_FEATURES = 24


def make_data(n=1500, seed=1):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(NUM_CLASSES, N_FEATURES))
    y = rng.integers(0, NUM_CLASSES, size=n)
    x = centers[y] + rng.normal(size=(n, N_FEATURES))
    return x.astype("float32"), y.astype("int64")


def build_model(width=64, dropout=0.3):
    model = keras.Sequential(
        [
            keras.Input(shape=(N_FEATURES,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="mlp_classifier",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main():
    x, y = make_data()
    model = build_model()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    model.fit(x, y, validation_split=0.2, epochs=20, batch_size=32, callbacks=[stop])
    print(model.evaluate(x, y, return_dict=True))


if __name__ == "__main__":
    main()
