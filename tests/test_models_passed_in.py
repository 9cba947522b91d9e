"""A module-level model called inside another model (an end-to-end wrapper, a GAN's combined
model): Keras calls that very object, so the converted class receives the script's instance
instead of building a fresh, untrained copy."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from typing import Any

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.tf_shim import install
from agent.weights import port_weights

pytestmark = pytest.mark.slow

_SRC = textwrap.dedent('''
    import keras
    from keras import layers

    inputs = keras.Input(shape=(8,))
    hidden = layers.Dense(5, activation="relu")(inputs)
    base = keras.Model(inputs, layers.Dense(3)(hidden), name="base")

    wrapped_input = keras.Input(shape=(8,))
    scaled = layers.Rescaling(0.5)(wrapped_input)
    outer = keras.Model(wrapped_input, layers.Dense(2)(base(scaled)))

    latent = 4
    generator = keras.Sequential([keras.Input(shape=(latent,)), layers.Dense(6)])
    critic = keras.Sequential([keras.Input(shape=(6,)), layers.Dense(1, activation="sigmoid")])
    noise = keras.Input(shape=(latent,))
    combined = keras.Model(noise, critic(generator(noise)))

    enc_in = keras.Input(shape=(6,))
    encoder = keras.Model(enc_in, layers.Dense(2)(enc_in))
    dec_in = keras.Input(shape=(2,))
    decoder = keras.Model(dec_in, layers.Dense(6)(dec_in))
    autoencoder = keras.Model(enc_in, decoder(encoder(enc_in)))  # shares encoder's Input
''')


@pytest.fixture(scope="module")
def converted() -> tuple[dict[str, Any], dict[str, Any], str]:
    result = convert_source(_SRC, "passed.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "keras" not in code, code
    keras.utils.set_random_seed(0)
    install()
    return exec_source(_SRC, "k2l_original"), exec_source(code, "k2l_converted"), code


def test_the_wrapper_receives_the_scripts_instance(converted: Any) -> None:
    _, ours, code = converted
    assert ours["outer"].base is ours["base"]
    assert ours["combined"].generator is ours["generator"]
    assert ours["combined"].critic is ours["critic"]
    # its class may be written before the decoder's: the annotation must not need it yet
    assert ours["autoencoder"].decoder is ours["decoder"]
    assert "outer = Outer(base=base)" in code
    # a module is saved with the weights, not as a hyperparameter
    assert 'save_hyperparameters(ignore=["base"])' not in code


def test_weights_set_on_the_inner_model_are_the_ones_the_wrapper_uses(converted: Any) -> None:
    """Port only ``base``'s weights (as training it would change them): ``outer`` sees them."""
    original, ours, _ = converted
    port_weights(original["base"], ours["base"])
    head = [m for m in ours["outer"].modules() if isinstance(m, torch.nn.Linear)
            and all(m is not b for b in ours["base"].modules())]
    assert len(head) == 1
    keras_head = original["outer"].layers[-1]
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in keras_head.weights)
    with torch.no_grad():
        head[0].weight.copy_(torch.as_tensor(kernel.T))
        head[0].bias.copy_(torch.as_tensor(bias))
    x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    ref = keras.ops.convert_to_numpy(original["outer"](x))
    ours["outer"].eval()
    with torch.no_grad():
        got = ours["outer"](torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)
