# k2l-eval: tier=1 features=sequential,lstm,rnn,timeseries,compile,fit,predict,numpy_data imports=tf.keras-from builder=build_model
"""Next-value forecasting on noisy sine windows with a stacked LSTM."""
import numpy as np
from tensorflow.keras import Sequential
from tensorflow.keras.layers import LSTM, Dense, Input

WINDOW = 20


def make_windows(n_points=1200, seed=16):
    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    series = np.sin(0.05 * t) + 0.5 * np.sin(0.011 * t) + 0.05 * rng.normal(size=n_points)
    x = np.stack([series[i:i + WINDOW] for i in range(n_points - WINDOW)])
    y = series[WINDOW:]
    return x[..., None].astype("float32"), y.astype("float32")


def build_model(units=32):
    model = Sequential([
        Input(shape=(WINDOW, 1)),
        LSTM(units, return_sequences=True),
        LSTM(units // 2),
        Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


if __name__ == "__main__":
    x, y = make_windows()
    model = build_model()
    model.fit(x, y, epochs=3, batch_size=64, validation_split=0.2, shuffle=False)
    print(model.predict(x[-3:]).ravel(), y[-3:])
