# k2l-eval: tier=2 features=custom_callback,callbacks,functional,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""A user-written Callback that records the loss and stops when it falls under a threshold."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers


class LossThreshold(keras.callbacks.Callback):
    def __init__(self, threshold=0.05):
        super().__init__()
        self.threshold = threshold
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        self.history.append(loss)
        if loss is not None and loss < self.threshold:
            print(f"epoch {epoch}: loss {loss:.4f} < {self.threshold}, stopping")
            self.model.stop_training = True


def build_model():
    inputs = keras.Input(shape=(4,))
    x = layers.Dense(16, activation="tanh")(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(42)
    x = rng.normal(size=(512, 4)).astype("float32")
    y = np.sin(x[:, :1])
    model = build_model()
    cb = LossThreshold(0.01)
    model.fit(x, y, epochs=50, batch_size=32, callbacks=[cb], verbose=0)
    print("epochs run:", len(cb.history))
