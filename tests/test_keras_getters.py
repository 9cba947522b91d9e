"""runtime/keras_getters.py against Keras 3: activations, initializers and regularizers by
the names a configurable custom layer receives (``keras.<kind>s.get(name)``)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

from agent.rules.training.runtime.keras_getters import (
    activation_by_name,
    activation_name_of,
    initializer_by_name,
    regularizer_by_name,
)

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "elu",
                                  "selu", "softplus", "softsign", "swish", "silu", "gelu",
                                  "exponential", "hard_sigmoid", "relu6", "mish", "leaky_relu",
                                  "linear", None])
def test_activation_matches_keras(name: str | None) -> None:
    import keras

    x = RNG.standard_normal((3, 7)).astype("float32") * 3
    ref = keras.ops.convert_to_numpy(keras.activations.get(name)(x))
    got = activation_by_name(name)(torch.as_tensor(x)).numpy()
    assert np.max(np.abs(ref - got)) < 1e-5


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "swish", "silu", "gelu",
                                  "hard_sigmoid", "leaky_relu", "linear", None])
def test_activation_name_is_keras_serialize(name: str | None) -> None:
    """get_config's ``keras.activations.serialize(self.activation)`` -> this name."""
    import keras

    expected = keras.activations.serialize(keras.activations.get(name))
    assert activation_name_of(activation_by_name(name)) == expected


@pytest.mark.parametrize("name", ["glorot_uniform", "GlorotNormal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal", "random_normal",
                                  "random_uniform", "truncated_normal"])
@pytest.mark.parametrize("shape", [(3, 40, 50), (200, 30), (6000,)])
def test_random_initializer_draws_keras_distribution(name: str, shape: tuple[int, ...]) -> None:
    """Same spread and the same bounds as Keras's draw (fans from the Keras-ordered shape)."""
    import keras

    keras.utils.set_random_seed(0)  # seeds torch too
    ref = keras.ops.convert_to_numpy(keras.initializers.get(name)(shape))
    t = torch.empty(shape)
    initializer_by_name(name)(t)
    got = t.numpy()
    assert abs(got.std() / ref.std() - 1) < 0.1
    # the tails (uniform bounds, the 2-sigma truncation) at the same place
    q_got, q_ref = np.quantile(np.abs(got), 0.99), np.quantile(np.abs(ref), 0.99)
    assert abs(q_got / q_ref - 1) < 0.1


@pytest.mark.parametrize("name", ["zeros", "ones", "Zeros"])
def test_constant_initializers(name: str) -> None:
    import keras

    t = torch.empty(4, 3)
    initializer_by_name(name)(t)
    assert np.array_equal(t.numpy(), keras.ops.convert_to_numpy(
        keras.initializers.get(name)((4, 3))))


@pytest.mark.parametrize("name", ["l1", "l2"])  # "l1_l2": tf.keras 2 only (0.01 each)
def test_regularizer_penalty_matches_keras(name: str) -> None:
    import keras

    w = RNG.standard_normal((5, 4)).astype("float32")
    ref = float(keras.ops.convert_to_numpy(keras.regularizers.get(name)(w)))
    penalty = regularizer_by_name(name)
    assert penalty is not None
    assert abs(float(penalty(torch.as_tensor(w))) - ref) < 1e-4 * max(1.0, abs(ref))
    assert regularizer_by_name(None) is None


def test_unknown_names_fail_loudly() -> None:
    with pytest.raises(ValueError, match="not reproduced"):
        activation_by_name("no_such_activation")
    with pytest.raises(ValueError, match="not reproduced"):
        initializer_by_name("orthogonal")(torch.empty(2, 2))
    with pytest.raises(ValueError, match="not reproduced"):
        regularizer_by_name("orthogonal_regularizer")
