# k2l-eval: tier=3 features=gradient_tape,functional,tf_data,tf_ops,numpy_data imports=tf.keras builder=build_model
"""A training loop written from scratch: tf.data, GradientTape, apply_gradients, metric objects."""
import numpy as np
import tensorflow as tf

BATCH = 64


def build_model(n_features=784, n_classes=10):
    inputs = tf.keras.Input(shape=(n_features,), name="digits")
    x = tf.keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = tf.keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = tf.keras.layers.Dense(n_classes, name="predictions")(x)
    return tf.keras.Model(inputs=inputs, outputs=outputs)


def train(epochs=2):
    rng = np.random.default_rng(61)
    x = rng.random((2048, 784)).astype("float32")
    y = rng.integers(0, 10, 2048)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(1024).batch(BATCH)
    model = build_model()
    optimizer = tf.keras.optimizers.SGD(learning_rate=1e-3)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    train_acc = tf.keras.metrics.SparseCategoricalAccuracy()
    for epoch in range(epochs):
        for step, (x_batch, y_batch) in enumerate(dataset):
            with tf.GradientTape() as tape:
                logits = model(x_batch, training=True)
                loss_value = loss_fn(y_batch, logits)
            grads = tape.gradient(loss_value, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            train_acc.update_state(y_batch, logits)
            if step % 10 == 0:
                print(f"epoch {epoch} step {step}: loss {float(loss_value):.4f}")
        print("accuracy over epoch", float(train_acc.result()))
        train_acc.reset_state()
    return model


if __name__ == "__main__":
    train()
