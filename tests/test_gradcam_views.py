"""Grad-CAM: a helper that builds ``keras.Model(model.inputs, [model.get_layer(name).output,
model.output])`` from its parameters and differentiates a class score with respect to the
conv layer's output. The helper is converted after the module's models (views.py needs
them), the model parameter read as the module model every call passes, the layer name as
the string every call passes; the tape then converts with the rest of the script."""

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

IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)

SCRIPT = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    LAST = "top_conv"

    inputs = keras.Input(shape=(12, 12, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="first_conv")(inputs)
    x = layers.Conv2D(6, 3, activation="relu", name="top_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(5, activation="softmax")(x))


    def class_activation(img_array, model, conv_name, pred_index=None):
        grad_model = keras.models.Model(
            model.inputs, [model.get_layer(conv_name).output, model.output]
        )
        with tf.GradientTape() as tape:
            conv_output, preds = grad_model(img_array)
            if pred_index is None:
                pred_index = tf.argmax(preds[0])
            class_channel = preds[:, pred_index]
        grads = tape.gradient(class_channel, conv_output)
        pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
        heatmap = conv_output[0] @ pooled_grads[..., tf.newaxis]
        heatmap = tf.squeeze(heatmap)
        heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
        return heatmap.numpy()


    if __name__ == "__main__":
        img = tf.convert_to_tensor(np.random.rand(1, 12, 12, 3).astype("float32"))
        print("HEAT", class_activation(img, model, LAST).shape)
    """)


def _converted() -> str:
    res = convert_source(SCRIPT)
    assert not IMPORTS.search(res.source), res.source
    assert not res.unmapped, res.unmapped
    return res.source


def test_gradcam_helper_converts_and_runs_without_tensorflow(tmp_path: Path) -> None:
    code = _converted()
    assert "grad_model = GradModel(model=model)" in code, code
    assert "tape_gradient(class_channel, conv_output)" in code, code
    run = run_without_tf(code, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:] + code
    assert "HEAT (8, 8)" in run.stdout, run.stdout


def test_gradcam_heatmap_matches_keras() -> None:
    """The heatmap from Keras's own model (Keras 3 on torch, weights ported): d class score
    / d conv output by autograd, pooled, weighted, clipped and scaled as the script does."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers

    from agent.weights import port_weights

    module = types.ModuleType("converted_gradcam")
    code = _converted().split('if __name__ == "__main__":')[0]
    exec(compile(code, "converted_gradcam.py", "exec"), module.__dict__)
    inputs = keras.Input(shape=(12, 12, 3))
    h = layers.Conv2D(4, 3, activation="relu", name="first_conv")(inputs)
    h = layers.Conv2D(6, 3, activation="relu", name="top_conv")(h)
    h = layers.GlobalAveragePooling2D()(h)
    kmodel = keras.Model(inputs, layers.Dense(5, activation="softmax")(h))
    tmodel = [c for c in vars(module).values() if isinstance(c, type)
              and c.__name__.endswith("Model") and c.__name__ != "GradModel"][0]()
    port_weights(kmodel, tmodel)
    img = np.random.default_rng(2).uniform(size=(1, 12, 12, 3)).astype("float32")
    got = module.class_activation(torch.as_tensor(img), tmodel, "top_conv")
    kgrad = keras.Model(kmodel.inputs, [kmodel.get_layer("top_conv").output, kmodel.output])
    conv, preds = kgrad(torch.as_tensor(img))
    idx = int(preds[0].argmax())
    (grads,) = torch.autograd.grad(preds[:, idx].sum(), [conv])
    pooled = grads.mean(dim=(0, 1, 2))
    heat = (conv[0] @ pooled[..., None]).squeeze().detach().numpy()
    want = np.maximum(heat, 0) / heat.max()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
