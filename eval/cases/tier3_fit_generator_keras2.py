# k2l-eval: tier=3 features=keras2,fit_generator,generator_data,backend_K,custom_metric,sequential,model_add,compile imports=keras2 builder=build_model
"""Keras 2 idioms: a Python generator, fit_generator/evaluate_generator and K-based metrics."""
import numpy as np
from keras import backend as K
from keras.layers import Dense, Dropout
from keras.models import Sequential
from keras.optimizers import Adam

INPUT_DIM = 30


def batch_generator(batch_size=32, seed=70):
    rng = np.random.RandomState(seed)
    while True:
        x = rng.randn(batch_size, INPUT_DIM).astype("float32")
        y = (x[:, 0] * x[:, 1] > 0).astype("float32")
        yield x, y


def precision_m(y_true, y_pred):
    true_positives = K.sum(K.round(K.clip(y_true * y_pred, 0, 1)))
    predicted_positives = K.sum(K.round(K.clip(y_pred, 0, 1)))
    return true_positives / (predicted_positives + K.epsilon())


def build_model():
    model = Sequential()
    model.add(Dense(64, activation="relu", input_shape=(INPUT_DIM,)))
    model.add(Dropout(0.3))
    model.add(Dense(64, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=Adam(learning_rate=1e-3),
                  metrics=["accuracy", precision_m])
    return model


if __name__ == "__main__":
    model = build_model()
    model.fit_generator(batch_generator(), steps_per_epoch=50, epochs=3,
                        validation_data=batch_generator(seed=71), validation_steps=10)
    print(model.evaluate_generator(batch_generator(seed=72), steps=10))
