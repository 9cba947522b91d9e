"""A small image classifier whose input shape depends on the backend's data format."""
from keras import backend as K
from keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from keras.models import Sequential

rows, cols = 12, 12
classes = 4

if K.image_data_format() == "channels_first":
    input_shape = (1, rows, cols)
else:
    input_shape = (rows, cols, 1)

model = Sequential()
model.add(Conv2D(6, kernel_size=(3, 3), activation="relu", input_shape=input_shape))
model.add(Conv2D(8, (3, 3), activation="relu"))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Dropout(0.25))
model.add(Flatten())
model.add(Dense(16, activation="relu"))
model.add(Dense(classes, activation="softmax"))
