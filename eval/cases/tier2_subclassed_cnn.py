# k2l-eval: tier=2 features=subclassed,cnn,channels_last,batchnorm,compile,fit,numpy_data imports=tf.keras builder=build_model
"""A subclassed convnet (tf.keras.Model) whose BatchNormalization follows `training`."""
import numpy as np
import tensorflow as tf


class SmallConvNet(tf.keras.Model):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = tf.keras.layers.Conv2D(16, 3, padding="same")
        self.bn1 = tf.keras.layers.BatchNormalization()
        self.conv2 = tf.keras.layers.Conv2D(32, 3, padding="same")
        self.bn2 = tf.keras.layers.BatchNormalization()
        self.pool = tf.keras.layers.MaxPooling2D()
        self.flatten = tf.keras.layers.Flatten()
        self.fc = tf.keras.layers.Dense(num_classes)

    def call(self, x, training=False):
        x = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        x = self.pool(x)
        x = tf.nn.relu(self.bn2(self.conv2(x), training=training))
        x = self.pool(x)
        return self.fc(self.flatten(x))


def build_model():
    model = SmallConvNet()
    model(np.zeros((1, 28, 28, 1), dtype="float32"))
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(43)
    x = rng.random((256, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 256)
    model = build_model()
    model.fit(x, y, epochs=2, batch_size=32)
