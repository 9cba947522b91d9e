# k2l-eval: tier=1 features=sequential,model_add,compile,fit,evaluate,numpy_data,keras2 imports=keras2 builder=build_model
"""Keras 2 era MLP: standalone `keras.models` / `keras.layers` imports and model.add()."""
import numpy as np
from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation
from keras.optimizers import SGD

np.random.seed(7)
INPUT_DIM = 20


def load_data(n=1000):
    x = np.random.random((n, INPUT_DIM)).astype("float32")
    y = (x[:, :10].sum(axis=1) > 5).astype("float32")
    return x, y


def build_model():
    model = Sequential()
    model.add(Dense(64, input_dim=INPUT_DIM, kernel_initializer="uniform"))
    model.add(Activation("tanh"))
    model.add(Dropout(0.5))
    model.add(Dense(64, kernel_initializer="uniform"))
    model.add(Activation("tanh"))
    model.add(Dropout(0.5))
    model.add(Dense(1, kernel_initializer="uniform"))
    model.add(Activation("sigmoid"))
    sgd = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])
    return model


if __name__ == "__main__":
    x_train, y_train = load_data()
    x_test, y_test = load_data(200)
    model = build_model()
    model.fit(x_train, y_train, epochs=5, batch_size=16)
    score = model.evaluate(x_test, y_test, batch_size=16)
    print(score)
