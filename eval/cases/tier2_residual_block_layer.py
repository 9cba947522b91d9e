# k2l-eval: tier=2 features=custom_layer,cnn,channels_last,batchnorm,functional,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""A ResNet basic block written as a Layer that owns Conv2D/BatchNormalization sublayers."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers


class ResidualBlock(layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn1 = layers.BatchNormalization()
        self.conv2 = layers.Conv2D(filters, 3, padding="same", use_bias=False)
        self.bn2 = layers.BatchNormalization()
        self.relu = layers.ReLU()

    def call(self, inputs, training=None):
        x = self.relu(self.bn1(self.conv1(inputs), training=training))
        x = self.bn2(self.conv2(x), training=training)
        return self.relu(x + inputs)


def build_model(num_classes=5):
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = ResidualBlock(16)(x)
    x = ResidualBlock(16)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(45)
    x = rng.random((128, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 5, 128)
    model = build_model()
    model.fit(x, y, epochs=2, batch_size=16)
