# k2l-eval: tier=2 features=sequential,lstm,rnn,timedistributed,timeseries,compile,fit,numpy_data imports=tf.keras-from builder=build_model
"""Sequence labelling: stacked LSTMs returning sequences and a TimeDistributed Dense head."""
import numpy as np
from tensorflow.keras.layers import LSTM, Dense, Input, TimeDistributed
from tensorflow.keras.models import Sequential

STEPS = 25
FEATURES = 3
TAGS = 4


def build_model(units=32):
    model = Sequential()
    model.add(Input(shape=(STEPS, FEATURES)))
    model.add(LSTM(units, return_sequences=True))
    model.add(LSTM(units, return_sequences=True, dropout=0.1))
    model.add(TimeDistributed(Dense(TAGS, activation="softmax")))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop",
                  metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(37)
    x = rng.normal(size=(400, STEPS, FEATURES)).astype("float32")
    y = np.digitize(np.cumsum(x[:, :, 0], axis=1), [-2, 0, 2])
    model = build_model()
    model.fit(x, y, epochs=3, batch_size=16)
