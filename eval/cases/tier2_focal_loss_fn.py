# k2l-eval: tier=2 features=custom_loss,sequential,compile,fit,numpy_data,tf_ops imports=tf.keras builder=build_model
"""Binary focal loss written as a plain function of (y_true, y_pred) with tf ops."""
import numpy as np
import tensorflow as tf


def focal_loss(gamma=2.0, alpha=0.25):
    def loss(y_true, y_pred):
        y_true = tf.cast(y_true, y_pred.dtype)
        eps = 1e-7
        y_pred = tf.clip_by_value(y_pred, eps, 1.0 - eps)
        p_t = y_true * y_pred + (1 - y_true) * (1 - y_pred)
        alpha_t = y_true * alpha + (1 - y_true) * (1 - alpha)
        return tf.reduce_mean(-alpha_t * tf.pow(1.0 - p_t, gamma) * tf.math.log(p_t))
    return loss


def build_model(n_features=25):
    model = tf.keras.Sequential([
        tf.keras.layers.Input(shape=(n_features,)),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss=focal_loss(gamma=2.0),
                  metrics=[tf.keras.metrics.AUC()])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(33)
    x = rng.normal(size=(2000, 25)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 2.0).astype("float32")
    model = build_model()
    model.fit(x, y, epochs=4, batch_size=64)
