# k2l-eval: tier=2 features=multi_output,functional,compile,fit,evaluate,numpy_data imports=keras3 builder=build_model
"""One trunk, two heads (a class and a regression target) with per-output losses and weights."""
import keras
import numpy as np
from keras import layers


def build_model(n_features=16, n_classes=4):
    inputs = keras.Input(shape=(n_features,), name="x")
    h = layers.Dense(64, activation="relu")(inputs)
    h = layers.Dense(64, activation="relu")(h)
    category = layers.Dense(n_classes, activation="softmax", name="category")(h)
    score = layers.Dense(1, name="score")(h)
    model = keras.Model(inputs=inputs, outputs=[category, score])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss={"category": "sparse_categorical_crossentropy", "score": "mse"},
        loss_weights={"category": 1.0, "score": 0.2},
        metrics={"category": ["accuracy"], "score": ["mae"]},
    )
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(36)
    x = rng.normal(size=(1200, 16)).astype("float32")
    cat = np.argmax(x[:, :4], axis=1)
    score = x[:, 4:8].sum(axis=1)
    model = build_model()
    model.fit(x, {"category": cat, "score": score}, epochs=4, batch_size=32)
    print(model.evaluate(x, {"category": cat, "score": score}, return_dict=True))
