"""RandomRotation/RandomZoom/RandomTranslation in models → runtime/image_augment.py modules.

Inference is the identity (as Keras); in training, a draw made degenerate (a (v, v) factor
pair) must give Keras 3's own output, which checks the affine maps, fill modes and
interpolation; random draws are checked for shapes and value ranges only (torch's generator
cannot reproduce Keras's numbers).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.tools.fast_dev_run import Worker

HEAD = "import keras\nimport numpy as np\nfrom keras import layers\n\n"
IMAGES = np.random.default_rng(5).uniform(0, 255, (4, 7, 9, 3)).astype("float32")


def _module(layer: str) -> Any:
    result = convert_source(HEAD + f"model = keras.Sequential([keras.Input(shape=(7, 9, 3)), "
                                   f"layers.{layer}])\n", "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "keras" not in result.source, result.source
    assert any("random draws are not reproduced" in w.message for w in result.warnings)
    return exec_source(result.source, "k2l_converted")["model"]


def _outputs(layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(converted in training, converted in eval, Keras 3 in training)."""
    module = _module(layer)
    with torch.no_grad():
        module.train()
        trained = module(torch.as_tensor(IMAGES)).numpy()
        module.eval()
        inferred = module(torch.as_tensor(IMAGES)).numpy()
    original = eval(f"keras.layers.{layer}")  # noqa: S307 - the test's own literal
    return trained, inferred, np.asarray(original(IMAGES, training=True).cpu())


FIXED = [
    "RandomRotation((0.1, 0.1))",
    'RandomRotation((-0.3, -0.3), fill_mode="constant", fill_value=7.0)',
    'RandomRotation((0.2, 0.2), interpolation="nearest", fill_mode="nearest")',
    "RandomZoom((0.3, 0.3))",
    'RandomZoom((-0.25, -0.25), (0.4, 0.4), fill_mode="constant")',
    "RandomTranslation((0.2, 0.2), (-0.3, -0.3))",
    'RandomTranslation((-0.1, -0.1), (0.25, 0.25), fill_mode="nearest")',
    'RandomRotation((0.15, 0.15), fill_mode="wrap")',
    'RandomZoom((0.45, 0.45), fill_mode="wrap", interpolation="nearest")',
    'RandomTranslation((0.3, 0.3), (-0.45, -0.45), fill_mode="wrap")',
]


@pytest.mark.parametrize("layer", FIXED)
def test_a_fixed_draw_gives_the_output_of_keras(layer: str) -> None:
    trained, inferred, original = _outputs(layer)
    np.testing.assert_array_equal(inferred, IMAGES)
    np.testing.assert_allclose(trained, original, atol=1e-3)
    assert not np.allclose(trained, IMAGES)  # the transform did something


@pytest.mark.parametrize("layer", ["RandomRotation(0.0)", "RandomZoom(0.0)",
                                   "RandomTranslation(0.0, 0.0)"])
def test_a_zero_factor_keeps_the_images(layer: str) -> None:
    trained, inferred, _ = _outputs(layer)
    np.testing.assert_array_equal(inferred, IMAGES)
    np.testing.assert_allclose(trained, IMAGES, atol=1e-3)


@pytest.mark.parametrize("layer", ["RandomRotation(0.2)", "RandomZoom(0.3, 0.2)",
                                   "RandomTranslation(0.2, (-0.1, 0.3))"])
def test_random_draws_keep_shape_and_range_and_differ_per_image(layer: str) -> None:
    same = np.repeat(IMAGES[:1], 4, axis=0)
    module = _module(layer).train()
    with torch.no_grad():
        out = module(torch.as_tensor(same)).numpy()
    assert out.shape == same.shape
    assert out.min() >= same.min() - 1e-3 and out.max() <= same.max() + 1e-3  # reflect fill
    assert not np.allclose(out[0], out[1])  # one draw per image, as Keras 3


def test_an_unknown_fill_mode_is_reported_not_converted() -> None:
    result = convert_source(HEAD + 'model = keras.Sequential([keras.Input(shape=(7, 9, 3)), '
                                   'layers.RandomZoom(0.2, fill_mode="mirror")])\n', "model.py")
    assert [u for u in result.unmapped if "mirror" in u.reason]


FUNCTIONAL = '''\
data_augmentation = keras.Sequential(
    [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.2),
     layers.RandomTranslation(0.1, 0.1)]
)

inputs = keras.Input(shape=(16, 16, 3))
x = data_augmentation(inputs)
x = layers.Rescaling(1.0 / 255)(x)
x = layers.Conv2D(4, 3, activation="relu")(x)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(2, activation="softmax")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

images = np.random.uniform(0, 255, (8, 16, 16, 3)).astype("float32")
labels = np.arange(8) % 2
model.fit(images, labels, epochs=1, batch_size=4)
'''


def test_functional_model_with_augmentation_converts_and_trains(tmp_path: Path) -> None:
    result = convert_source(HEAD + textwrap.dedent(FUNCTIONAL), "model.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    assert "keras" not in result.source.replace("Keras", "")
    assert result.source.count("class RandomImageRotation(") == 1
    path = tmp_path / "script.py"
    path.write_text(result.source)
    with Worker(kill_grace_s=3.0) as worker:
        run = worker.run_script(path, time_limit_s=60)
    assert run.status == "passed", run.message + "".join(d.message for d in run.diagnostics)


def test_keras_inference_is_the_identity_too() -> None:
    """What the eval-mode comparison relies on: Keras 3 leaves images alone at inference."""
    layer = keras.layers.RandomRotation(0.3)
    np.testing.assert_array_equal(np.asarray(layer(IMAGES, training=False).cpu()), IMAGES)
