"""Attributions and adversarial examples: gradients of a converted model with respect to its
input, on a tape that watches it (FGSM with a loss object; integrated gradients over a batch
of interpolated images, a persistent tape asked twice, one target unconnected and
``unconnected_gradients=tf.UnconnectedGradients.ZERO``).

Numbers: the Keras model itself (Keras 3 on torch, weights ported to the converted model),
differentiated by torch autograd with TF's rules applied by hand.
"""

from __future__ import annotations

import os
import re
import textwrap
import types
from pathlib import Path

import numpy as np
import torch
from without_tf import run_without_tf

from agent.rules.convert import convert_source
from agent.rules.training.runtime.training_loop import tape_gradient, tape_watch

IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)

SCRIPT = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    inputs = keras.Input(shape=(10, 10, 3))
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    model = keras.Model(inputs, outputs)


    def adversarial(image, label, eps):
        loss_object = keras.losses.CategoricalCrossentropy()
        with tf.GradientTape() as tape:
            tape.watch(image)
            prediction = model(image)
            loss = loss_object(label, prediction)
        gradient = tape.gradient(loss, image)
        return image + eps * tf.sign(gradient)


    def path_gradients(baseline, image, target, steps=6):
        alphas = tf.linspace(0.0, 1.0, steps + 1)
        path = baseline + alphas[:, tf.newaxis, tf.newaxis, tf.newaxis] * (image - baseline)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(path)
            probs = model(path)[:, target]
            flat = tf.zeros_like(probs)
        grads = tape.gradient(probs, path)
        nothing = tape.gradient(flat, path, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        avg = tf.reduce_mean((grads[:-1] + grads[1:]) / 2.0, axis=0)
        return ((image - baseline) * avg).numpy(), float(tf.reduce_sum(tf.abs(nothing)))


    if __name__ == "__main__":
        img = np.random.rand(1, 10, 10, 3).astype("float32")
        adv = adversarial(tf.convert_to_tensor(img), tf.one_hot(tf.constant([2]), 5), 0.01)
        print("ADV", tuple(adv.shape))
        attribution, zero = path_gradients(tf.zeros((10, 10, 3)), tf.convert_to_tensor(img[0]), 3)
        print("IG", attribution.shape, zero)
    """)


def _converted() -> str:
    res = convert_source(SCRIPT)
    assert not IMPORTS.search(res.source), res.source
    assert not res.unmapped, res.unmapped
    return res.source


def test_attribution_script_converts_and_runs_without_tensorflow(tmp_path: Path) -> None:
    code = _converted()
    assert "image = tape_watch(image)" in code and "path = tape_watch(path)" in code
    assert 'unconnected_gradients="zero"' in code, code
    run = run_without_tf(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:] + code
    assert "ADV (1, 10, 10, 3)" in run.stdout and "IG (10, 10, 3) 0.0" in run.stdout, run.stdout


def _load(code: str) -> types.ModuleType:
    module = types.ModuleType("converted_attributions")
    exec(compile(code, "converted_attributions.py", "exec"), module.__dict__)
    return module


def test_attributions_match_keras() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers

    from agent.weights import port_weights

    module = _load(_converted())
    inputs = keras.Input(shape=(10, 10, 3))
    h = layers.Conv2D(4, 3, activation="relu")(inputs)
    h = layers.GlobalAveragePooling2D()(h)
    kmodel = keras.Model(inputs, layers.Dense(5, activation="softmax")(h))
    module.model = [c for c in vars(module).values()
                    if isinstance(c, type) and c.__name__.endswith("Model")][0]()
    port_weights(kmodel, module.model)
    rng = np.random.default_rng(0)
    img = rng.uniform(size=(1, 10, 10, 3)).astype("float32")
    label = np.eye(5, dtype="float32")[[2]]

    # FGSM: x + eps * sign(d CE(label, model(x)) / dx), CE as Keras computes it
    xt = torch.tensor(img, requires_grad=True)
    loss = keras.losses.CategoricalCrossentropy()(torch.tensor(label), kmodel(xt))
    (grad,) = torch.autograd.grad(loss, [xt])
    want = img + 0.01 * np.sign(grad.numpy())
    got = module.adversarial(torch.as_tensor(img), torch.as_tensor(label), 0.01)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-6)
    # the converted gradient itself, before the sign
    xi = tape_watch(torch.as_tensor(img))
    conv_grad = tape_gradient(module.KerasLoss(lambda y, p: -(y * torch.log(
        (p / p.sum(-1, keepdim=True)).clamp(1e-7, 1 - 1e-7))).sum(-1))(
        torch.as_tensor(label), module.model(xi)), xi)
    np.testing.assert_allclose(conv_grad.numpy(), grad.numpy(), rtol=1e-5, atol=1e-7)

    # integrated gradients: the trapezoid mean of d prob[target] / d path over the path
    base = np.zeros((10, 10, 3), "float32")
    alphas = np.linspace(0.0, 1.0, 7, dtype="float32")
    path = torch.tensor(base + alphas[:, None, None, None] * (img[0] - base), requires_grad=True)
    (pgrad,) = torch.autograd.grad(kmodel(path)[:, 3].sum(), [path])
    g = pgrad.numpy()
    want_ig = (img[0] - base) * ((g[:-1] + g[1:]) / 2.0).mean(axis=0)
    got_ig, zero = module.path_gradients(torch.as_tensor(base), torch.as_tensor(img[0]), 3)
    np.testing.assert_allclose(got_ig, want_ig, rtol=1e-5, atol=1e-7)
    assert zero == 0.0


def test_runtime_unconnected_targets_and_zero_gradients() -> None:
    """TF: a target no source reaches gives None (zeros when asked), not an error."""
    x = tape_watch(torch.tensor([1.0, 2.0]))
    const = torch.zeros(2)
    assert tape_gradient(const, x) is None
    assert tape_gradient(const, x, unconnected_gradients="zero").tolist() == [0.0, 0.0]
    w = torch.tensor(3.0, requires_grad=True)
    grads = tape_gradient(w * w, [w, x], unconnected_gradients="zero")
    assert grads[0].item() == 6.0 and grads[1].tolist() == [0.0, 0.0]
    assert tape_gradient(w * w, {"w": w, "x": x}, unconnected_gradients="zero")["x"] \
        .tolist() == [0.0, 0.0]
