# k2l-eval: tier=1 features=sequential,cnn,channels_last,compile,fit,evaluate,numpy_data imports=keras3-from builder=build_model
"""Small convnet on synthetic 28x28 grayscale digits (the classic Keras MNIST example)."""
import numpy as np
import keras
from keras import layers

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28, 1)


def make_data(n=600, seed=3):
    """Blobs whose position encodes the class, so the task is learnable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, NUM_CLASSES, size=n)
    x = rng.normal(scale=0.1, size=(n, 28, 28, 1)).astype("float32")
    for i, label in enumerate(y):
        r, c = divmod(int(label), 5)
        x[i, 4 + r * 10: 10 + r * 10, 2 + c * 5: 6 + c * 5, 0] += 1.0
    return x, keras.utils.to_categorical(y, NUM_CLASSES)


def build_model():
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x, y = make_data()
    model = build_model()
    model.summary()
    model.fit(x, y, batch_size=128, epochs=3, validation_split=0.1)
    score = model.evaluate(x, y, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])
