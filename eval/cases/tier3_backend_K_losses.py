# k2l-eval: tier=3 features=backend_K,custom_loss,custom_metric,functional,cnn,channels_last,compile,fit,numpy_data imports=keras2 builder=build_model
"""Segmentation-style model with a Dice loss and IoU metric written with keras.backend (K)."""
import numpy as np
import keras.backend as K
from keras.layers import Conv2D, Input, MaxPooling2D, UpSampling2D, concatenate
from keras.models import Model
from keras.optimizers import Adam

SMOOTH = 1.0


def dice_coef(y_true, y_pred):
    y_true_f = K.flatten(y_true)
    y_pred_f = K.flatten(y_pred)
    intersection = K.sum(y_true_f * y_pred_f)
    return (2.0 * intersection + SMOOTH) / (K.sum(y_true_f) + K.sum(y_pred_f) + SMOOTH)


def dice_loss(y_true, y_pred):
    return 1.0 - dice_coef(y_true, y_pred)


def iou(y_true, y_pred):
    inter = K.sum(K.abs(y_true * y_pred), axis=[1, 2, 3])
    union = K.sum(y_true, [1, 2, 3]) + K.sum(y_pred, [1, 2, 3]) - inter
    return K.mean((inter + SMOOTH) / (union + SMOOTH), axis=0)


def build_model(size=32):
    inputs = Input((size, size, 1))
    c1 = Conv2D(8, 3, activation="relu", padding="same")(inputs)
    p1 = MaxPooling2D((2, 2))(c1)
    c2 = Conv2D(16, 3, activation="relu", padding="same")(p1)
    u1 = UpSampling2D((2, 2))(c2)
    m1 = concatenate([u1, c1], axis=3)
    c3 = Conv2D(8, 3, activation="relu", padding="same")(m1)
    outputs = Conv2D(1, 1, activation="sigmoid")(c3)
    model = Model(inputs=[inputs], outputs=[outputs])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss=dice_loss, metrics=[dice_coef, iou])
    return model


if __name__ == "__main__":
    rng = np.random.RandomState(73)
    x = rng.rand(64, 32, 32, 1).astype("float32")
    y = (x > 0.7).astype("float32")
    model = build_model()
    model.fit(x, y, batch_size=8, epochs=2)
