"""Constructor arguments that are data (an embedding matrix) are not hyperparameters:
``save_hyperparameters`` would copy them into every checkpoint. An array read only for its
size (the training features' width) is passed as that size, a hyperparameter."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source

_SRC = textwrap.dedent('''\
    import numpy as np
    from tensorflow import keras
    from tensorflow.keras import layers


    def build(embedding_matrix, num_tokens, features):
        inputs = keras.Input(shape=(5,), dtype="int64")
        x = layers.Embedding(num_tokens, embedding_matrix.shape[1],
                             embeddings_initializer=keras.initializers.Constant(embedding_matrix),
                             trainable=False)(inputs)
        x = layers.GlobalAveragePooling1D()(x)
        x = layers.Dense(features.shape[-1])(x)
        return keras.Model(inputs, x)


    matrix = np.arange(12, dtype="float32").reshape(6, 2)
    train = np.zeros((10, 3), dtype="float32")
    model = build(matrix, 6, train)
''')


def _converted() -> str:
    result = convert_source(_SRC, "embed.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    return result.source


def test_arrays_are_left_out_of_the_hyperparameters() -> None:
    code = _converted()
    assert 'self.save_hyperparameters(ignore=["embedding_matrix"])' in code
    # the features array is read only for its width: the class takes that size instead
    assert "num_features=features.shape[-1]" in code
    ns: dict[str, Any] = exec_source(code, "k2l_hparams")
    model = ns["model"]
    assert dict(model.hparams) == {"num_tokens": 6, "num_features": 3}
    # the matrix still reaches the frozen embedding, as Keras's Constant initializer put it
    weights = next(m for m in model.modules() if isinstance(m, torch.nn.Embedding)).weight
    assert np.array_equal(weights.detach().numpy(), ns["matrix"])
    assert not weights.requires_grad
