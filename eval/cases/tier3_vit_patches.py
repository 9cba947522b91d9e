# k2l-eval: tier=3 features=transformer,attention,custom_layer,cnn,channels_last,functional,compile,fit,numpy_data imports=keras3 builder=build_model
"""A tiny Vision Transformer: conv patch embedding, learned class token and positions, MHA."""
import keras
import numpy as np
from keras import layers, ops

IMAGE = 32
PATCH = 8
DIM = 32


class ClassTokenAndPosition(layers.Layer):
    """Prepends a learned [CLS] token and adds learned position embeddings."""

    def build(self, input_shape):
        n, d = input_shape[1], input_shape[2]
        self.cls = self.add_weight(shape=(1, 1, d), initializer="zeros", name="cls")
        self.pos = self.add_weight(shape=(1, n + 1, d), initializer="random_normal", name="pos")

    def call(self, x):
        batch = ops.shape(x)[0]
        cls = ops.broadcast_to(self.cls, (batch, 1, ops.shape(x)[2]))
        return ops.concatenate([cls, x], axis=1) + self.pos


def encoder_block(x, heads=4, mlp_dim=64, dropout=0.1):
    h = layers.LayerNormalization(epsilon=1e-6)(x)
    h = layers.MultiHeadAttention(num_heads=heads, key_dim=DIM // heads, dropout=dropout)(h, h)
    x = layers.Add()([x, h])
    h = layers.LayerNormalization(epsilon=1e-6)(x)
    h = layers.Dense(mlp_dim, activation="gelu")(h)
    h = layers.Dense(DIM)(h)
    return layers.Add()([x, h])


def build_model(num_classes=10, depth=2):
    inputs = keras.Input(shape=(IMAGE, IMAGE, 3))
    x = layers.Conv2D(DIM, PATCH, strides=PATCH)(inputs)
    x = layers.Reshape(((IMAGE // PATCH) ** 2, DIM))(x)
    x = ClassTokenAndPosition()(x)
    for _ in range(depth):
        x = encoder_block(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    cls = layers.Lambda(lambda t: t[:, 0])(x)
    outputs = layers.Dense(num_classes)(cls)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


if __name__ == "__main__":
    rng = np.random.default_rng(83)
    x = rng.random((128, IMAGE, IMAGE, 3)).astype("float32")
    y = rng.integers(0, 10, 128)
    model = build_model()
    model.fit(x, y, epochs=2, batch_size=16)
