# k2l-eval: tier=1 features=sequential,cnn,channels_last,batchnorm,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""CIFAR-style convnet with BatchNormalization and global average pooling (32x32x3)."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers


def make_data(n=256, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(n, 32, 32, 3)).astype("float32") / 255.0
    y = (x[:, :16, :, 0].mean(axis=(1, 2)) > x[:, 16:, :, 2].mean(axis=(1, 2))).astype("int64")
    return x, y


def conv_block(filters):
    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.Activation("relu"),
    ]


def build_model(num_classes=2):
    model = keras.Sequential(
        [keras.Input(shape=(32, 32, 3))]
        + conv_block(16)
        + [layers.MaxPooling2D()]
        + conv_block(32)
        + [layers.GlobalAveragePooling2D(), layers.Dense(num_classes, activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.fit(x, y, epochs=4, batch_size=32, shuffle=True)
