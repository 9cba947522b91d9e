# k2l-eval: tier=1 features=sequential,compile,fit,evaluate,predict,numpy_data,script imports=tf.keras-from builder=model
"""A top-to-bottom script with no functions: the model is a module-level variable."""
import numpy as np
from tensorflow import keras

rng = np.random.default_rng(14)
x_train = rng.normal(size=(600, 6)).astype("float32")
y_train = (x_train[:, 0] * x_train[:, 1] > 0).astype("float32")

model = keras.Sequential([
    keras.layers.Dense(48, activation="relu", input_shape=(6,)),
    keras.layers.Dense(48, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=8, batch_size=32, verbose=0)
print("train accuracy", model.evaluate(x_train, y_train, verbose=0)[1])
probs = model.predict(x_train[:10])
print((probs > 0.5).astype("int32").ravel())
