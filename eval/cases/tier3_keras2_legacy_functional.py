# k2l-eval: tier=3 features=keras2,backend_K,functional,multi_input,merge_concat,embedding,compile,fit,numpy_data imports=keras2 builder=build_model
"""Keras 2.x recommender: lower-case merge functions, K.image_data_format checks, legacy names."""
import numpy as np
from keras import backend as K
from keras.layers import Dense, Dropout, Embedding, Flatten, Input, concatenate, dot
from keras.models import Model
from keras.regularizers import l2

N_USERS = 100
N_ITEMS = 80
FACTORS = 8


def build_model(reg=1e-5):
    assert K.image_data_format() == "channels_last"
    user = Input(shape=(1,), name="user")
    item = Input(shape=(1,), name="item")
    u = Flatten()(Embedding(N_USERS, FACTORS, embeddings_regularizer=l2(reg))(user))
    i = Flatten()(Embedding(N_ITEMS, FACTORS, embeddings_regularizer=l2(reg))(item))
    mf = dot([u, i], axes=1)
    mlp = concatenate([u, i])
    mlp = Dropout(0.2)(Dense(32, activation="relu")(mlp))
    mlp = Dense(16, activation="relu")(mlp)
    merged = concatenate([mf, mlp])
    rating = Dense(1, activation="sigmoid")(merged)
    model = Model(inputs=[user, item], outputs=rating)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


if __name__ == "__main__":
    K.clear_session()
    rng = np.random.RandomState(82)
    users = rng.randint(0, N_USERS, size=(3000, 1))
    items = rng.randint(0, N_ITEMS, size=(3000, 1))
    liked = ((users + items) % 3 == 0).astype("float32")
    model = build_model()
    model.fit([users, items], liked, batch_size=64, epochs=3, verbose=2)
