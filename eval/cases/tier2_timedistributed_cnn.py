# k2l-eval: tier=2 features=timedistributed,cnn,channels_last,lstm,rnn,sequential,compile,fit,numpy_data imports=tf.keras builder=build_model
"""Video-like clips: a TimeDistributed convnet per frame, then an LSTM over frames."""
import numpy as np
import tensorflow as tf

FRAMES, H, W, C = 6, 16, 16, 1


def build_model(n_classes=3):
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(FRAMES, H, W, C)),
        tf.keras.layers.TimeDistributed(tf.keras.layers.Conv2D(8, 3, activation="relu")),
        tf.keras.layers.TimeDistributed(tf.keras.layers.MaxPooling2D()),
        tf.keras.layers.TimeDistributed(tf.keras.layers.Flatten()),
        tf.keras.layers.LSTM(16),
        tf.keras.layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(50)
    clips = rng.random((120, FRAMES, H, W, C)).astype("float32")
    labels = rng.integers(0, 3, 120)
    model = build_model()
    model.fit(clips, labels, epochs=2, batch_size=8)
