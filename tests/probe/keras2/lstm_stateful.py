'''A stateful LSTM learns to output the moving average of a noisy input series.

The state is carried across batches and reset by hand at the end of each epoch.
'''
from __future__ import print_function
import numpy as np
import pandas as pd
from keras.models import Sequential
from keras.layers import Dense, LSTM

input_len = 1000
tsteps = 2
lahead = 1
batch_size = 1
epochs = 10


def gen_uniform_amp(amp=1, xn=10000):
    data_input = np.random.uniform(-1 * amp, +1 * amp, xn)
    data_input = pd.DataFrame(data_input)
    return data_input


to_drop = max(tsteps - 1, lahead - 1)
data_input = gen_uniform_amp(amp=0.1, xn=input_len + to_drop)
expected_output = data_input.rolling(window=tsteps, center=False).mean()
if lahead > 1:
    data_input = np.repeat(data_input.values, repeats=lahead, axis=1)
    data_input = pd.DataFrame(data_input)
    for i, c in enumerate(data_input.columns):
        data_input[c] = data_input[c].shift(i)
expected_output = expected_output[to_drop:]
data_input = data_input[to_drop:]


def split_data(x, y, ratio=0.8):
    to_train = int(input_len * ratio)
    to_train -= to_train % batch_size
    x_train = x[:to_train]
    y_train = y[:to_train]
    x_test = x[to_train:]
    y_test = y[to_train:]
    x_test = x_test[:x_test.shape[0] - x_test.shape[0] % batch_size]
    y_test = y_test[:y_test.shape[0] - y_test.shape[0] % batch_size]
    return (x_train, y_train), (x_test, y_test)


(x_train, y_train), (x_test, y_test) = split_data(data_input, expected_output)
x_train = x_train.values.reshape((x_train.shape[0], x_train.shape[1], 1))
x_test = x_test.values.reshape((x_test.shape[0], x_test.shape[1], 1))


def create_model(stateful):
    model = Sequential()
    model.add(LSTM(20,
                   input_shape=(lahead, 1),
                   batch_size=batch_size,
                   stateful=stateful))
    model.add(Dense(1))
    model.compile(loss='mse', optimizer='adam')
    return model


print('Creating Stateful Model...')
model_stateful = create_model(stateful=True)

for i in range(epochs):
    print('Epoch', i + 1, '/', epochs)
    model_stateful.fit(x_train, y_train, batch_size=batch_size, epochs=1, verbose=1,
                       validation_data=(x_test, y_test), shuffle=False)
    model_stateful.reset_states()

predicted_stateful = model_stateful.predict(x_test, batch_size=batch_size)

print('Creating Stateless Model...')
model_stateless = create_model(stateful=False)
model_stateless.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=1,
                    validation_data=(x_test, y_test), shuffle=False)
predicted_stateless = model_stateless.predict(x_test, batch_size=batch_size)
