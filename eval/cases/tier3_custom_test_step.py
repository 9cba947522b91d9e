# k2l-eval: tier=3 features=custom_train_step,custom_test_step,gradient_tape,metric_trackers,subclassed,compile,fit,evaluate,numpy_data imports=tf.keras-from builder=build_model
"""train_step and test_step overridden together, with loss/MAE trackers exposed via metrics."""
import numpy as np
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers


class Regressor(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.body = keras.Sequential([layers.Dense(32, activation="relu"),
                                      layers.Dense(32, activation="relu"), layers.Dense(1)])
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    def call(self, x, training=False):
        return self.body(x, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = keras.losses.mean_squared_error(y, y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(keras.losses.mean_squared_error(y, y_pred))
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def build_model(n_features=6):
    model = Regressor()
    model(np.zeros((1, n_features), dtype="float32"))
    model.compile(optimizer="adam")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(75)
    x = rng.normal(size=(800, 6)).astype("float32")
    y = (x ** 3).sum(axis=1, keepdims=True).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=3, validation_split=0.2)
    print(model.evaluate(x, y))
