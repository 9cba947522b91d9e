# k2l-eval: tier=2 features=custom_metric,sequential,compile,fit,evaluate,numpy_data imports=keras3 builder=build_model
"""A stateful custom metric (keras.metrics.Metric subclass) tracking an F1 score."""
import keras
import numpy as np
from keras import ops


class BinaryF1(keras.metrics.Metric):
    def __init__(self, threshold=0.5, name="f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.tp = self.add_variable(shape=(), initializer="zeros", name="tp")
        self.fp = self.add_variable(shape=(), initializer="zeros", name="fp")
        self.fn = self.add_variable(shape=(), initializer="zeros", name="fn")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.reshape(y_true, (-1,)), "float32")
        y_hat = ops.cast(ops.reshape(y_pred, (-1,)) > self.threshold, "float32")
        self.tp.assign_add(ops.sum(y_true * y_hat))
        self.fp.assign_add(ops.sum((1 - y_true) * y_hat))
        self.fn.assign_add(ops.sum(y_true * (1 - y_hat)))

    def result(self):
        precision = self.tp / (self.tp + self.fp + 1e-7)
        recall = self.tp / (self.tp + self.fn + 1e-7)
        return 2 * precision * recall / (precision + recall + 1e-7)

    def reset_state(self):
        for v in (self.tp, self.fp, self.fn):
            v.assign(0.0)


def build_model():
    model = keras.Sequential([
        keras.Input(shape=(8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[BinaryF1()])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(34)
    x = rng.normal(size=(1000, 8)).astype("float32")
    y = (x[:, 2] > 0.3).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=5, batch_size=50)
    print(model.evaluate(x, y, return_dict=True))
