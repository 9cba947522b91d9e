# k2l-eval: tier=1 features=sequential,compile,fit,class_weight,evaluate,numpy_data imports=keras3 builder=build_model
"""Imbalanced binary classification with class_weight and AUC/precision/recall metrics."""
import keras
import numpy as np


def make_data(n=3000, positive_rate=0.05, seed=19):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_rate).astype("float32")
    x = rng.normal(size=(n, 30)).astype("float32")
    x[y == 1, :5] += 1.5
    return x, y


def build_model():
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-2),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.Precision(name="precision"),
                 keras.metrics.Recall(name="recall")],
    )
    return model


if __name__ == "__main__":
    x, y = make_data()
    neg, pos = np.bincount(y.astype("int64"))
    class_weight = {0: (1 / neg) * (len(y) / 2.0), 1: (1 / pos) * (len(y) / 2.0)}
    model = build_model()
    model.fit(x, y, batch_size=256, epochs=5, class_weight=class_weight)
    print(model.evaluate(x, y, return_dict=True))
