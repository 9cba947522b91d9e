# k2l-eval: tier=3 features=custom_train_step,gradient_tape,subclassed,compile,fit,numpy_data imports=tf.keras builder=build_model
"""Overriding Model.train_step with a GradientTape (the "customize what happens in fit" guide)."""
import numpy as np
import tensorflow as tf


class CustomModel(tf.keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def build_model(n_features=32):
    inputs = tf.keras.Input(shape=(n_features,))
    x = tf.keras.layers.Dense(64, activation="relu")(inputs)
    outputs = tf.keras.layers.Dense(1)(x)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(60)
    x = rng.random((1000, 32)).astype("float32")
    y = rng.random((1000, 1)).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=3)
