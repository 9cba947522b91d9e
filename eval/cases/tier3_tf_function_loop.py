# k2l-eval: tier=3 features=gradient_tape,tf_data,tf_ops,sequential,cnn,channels_last,numpy_data imports=tf.keras-from builder=build_model
"""The TensorFlow 2 quickstart-for-experts loop: @tf.function train/test steps over tf.data."""
import numpy as np
import tensorflow as tf
from tensorflow.keras import Sequential
from tensorflow.keras.layers import Conv2D, Dense, Flatten, Input


def build_model():
    return Sequential([
        Input(shape=(28, 28, 1)),
        Conv2D(32, 3, activation="relu"),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(10),
    ])


def train(x, y, epochs=2):
    """Builds the model, the metric objects and the compiled steps, then runs the loop."""
    model = build_model()
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tf.keras.optimizers.Adam()
    train_loss = tf.keras.metrics.Mean(name="train_loss")
    train_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name="train_accuracy")
    test_loss = tf.keras.metrics.Mean(name="test_loss")
    test_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name="test_accuracy")

    @tf.function
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            loss = loss_object(labels, predictions)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_loss(loss)
        train_accuracy(labels, predictions)

    @tf.function
    def test_step(images, labels):
        predictions = model(images, training=False)
        test_loss(loss_object(labels, predictions))
        test_accuracy(labels, predictions)

    train_ds = tf.data.Dataset.from_tensor_slices((x[:448], y[:448])).shuffle(448).batch(32)
    test_ds = tf.data.Dataset.from_tensor_slices((x[448:], y[448:])).batch(32)
    for epoch in range(epochs):
        for metric in (train_loss, train_accuracy, test_loss, test_accuracy):
            metric.reset_state()
        for images, labels in train_ds:
            train_step(images, labels)
        for images, labels in test_ds:
            test_step(images, labels)
        print(epoch + 1, train_loss.result(), train_accuracy.result() * 100,
              test_loss.result(), test_accuracy.result() * 100)
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(80)
    train(rng.random((512, 28, 28, 1)).astype("float32"), rng.integers(0, 10, 512))
