# k2l-eval: tier=2 features=subclassed,compile,fit,evaluate,numpy_data imports=keras3 builder=build_model
"""A subclassed keras.Model with __init__/call and dropout that depends on `training`."""
import keras
import numpy as np
from keras import layers

N_FEATURES = 12


class MLP(keras.Model):
    def __init__(self, hidden=64, num_classes=3, dropout=0.2, **kwargs):
        super().__init__(**kwargs)
        self.hidden1 = layers.Dense(hidden, activation="relu")
        self.hidden2 = layers.Dense(hidden, activation="relu")
        self.dropout = layers.Dropout(dropout)
        self.out = layers.Dense(num_classes)

    def call(self, inputs, training=False):
        x = self.hidden1(inputs)
        x = self.dropout(x, training=training)
        x = self.hidden2(x)
        return self.out(x)


def build_model():
    model = MLP()
    model(np.zeros((1, N_FEATURES), dtype="float32"))  # create the weights
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(30)
    x = rng.normal(size=(900, N_FEATURES)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 1).astype("int64")
    model = build_model()
    model.fit(x, y, epochs=4, batch_size=32)
    model.evaluate(x, y)
