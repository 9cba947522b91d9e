# k2l-eval: tier=1 features=sequential,model_add,cnn,channels_last,compile,fit,numpy_data,keras2 imports=keras2 builder=build_model
"""Keras 2 style convnet built with model.add() on 28x28x1 images."""
import numpy as np
import keras
from keras.models import Sequential
from keras.layers import Conv2D, MaxPooling2D, Dropout, Flatten, Dense

batch_size = 64
num_classes = 4
epochs = 2
img_rows, img_cols = 28, 28


def synthetic_images(n=400, seed=5):
    rng = np.random.RandomState(seed)
    x = rng.rand(n, img_rows, img_cols, 1).astype("float32")
    y = rng.randint(0, num_classes, size=n)
    for i in range(n):
        x[i, y[i] * 7:(y[i] + 1) * 7, :, 0] += 1.0
    return x, keras.utils.to_categorical(y, num_classes)


def build_model():
    model = Sequential()
    model.add(Conv2D(32, kernel_size=(3, 3), activation="relu",
                     input_shape=(img_rows, img_cols, 1)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(num_classes, activation="softmax"))
    model.compile(loss=keras.losses.categorical_crossentropy,
                  optimizer=keras.optimizers.Adadelta(),
                  metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x_train, y_train = synthetic_images()
    model = build_model()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=1,
              validation_data=(x_train[:64], y_train[:64]))
