"""Sizes and loop bounds kept in a constants-only class (``config.NUM_LAYERS``, the
keras.io ``class Config`` idiom): read as module constants, so a builder's loop over
``range(config.DEPTH)`` unrolls and layers are sized statically.

The model is compared with its Keras original (Keras 3, torch backend) after porting the
weights; the converted script runs one fast_dev_run batch with Keras/TF unimportable.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import textwrap
from pathlib import Path

import keras
import libcst as cst
import pytest

from agent.equivalence import compare, exec_source
from agent.rules.convert import convert_source
from agent.rules.values import module_constants
from agent.tf_shim import install
from tests.without_tf import run_without_tf

HEAD = "import keras\nimport numpy as np\nfrom keras import layers\n\n"

CONFIG = '''\
from dataclasses import dataclass


@dataclass
class Config:
    """Hyper-parameters."""

    DEPTH = 2
    WIDTH = 8
    HIDDEN = WIDTH * 2


config = Config()


def block(x, i):
    y = layers.Dense(config.HIDDEN, activation="relu", name="block_{}_up".format(i))(x)
    y = layers.Dense(config.WIDTH, name="block_{}_down".format(i))(y)
    return layers.LayerNormalization(epsilon=1e-6)(x + y)


def create_model():
    inputs = keras.Input(shape=(config.WIDTH,))
    x = inputs
    for i in range(config.DEPTH):
        x = block(x, i)
    outputs = layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs)
'''


def _constants(src: str) -> dict[str, object]:
    return module_constants(cst.parse_module(textwrap.dedent(src)))


def test_constants_of_a_plain_class_and_its_one_instance_are_known() -> None:
    env = _constants(CONFIG)
    assert (env["Config.DEPTH"], env["config.DEPTH"], env["config.HIDDEN"]) == (2, 2, 16)


def test_annotated_constants_count_too() -> None:
    env = _constants("class Config:\n    DEPTH: int = 2\n\nconfig = Config()\n")
    assert env["config.DEPTH"] == 2, env


@pytest.mark.parametrize("src", [
    "class Config:\n    DEPTH = 2\n\nconfig = Config()\nconfig.DEPTH = 3\n",  # changed later
    "class Config:\n    DEPTH = 2\n\nconfig = Config()\nconfig = Config()\n",  # bound twice
    "class Config(Base):\n    DEPTH = 2\n\nconfig = Config()\n",  # a base may define more
    "@register\nclass Config:\n    DEPTH = 2\n\nconfig = Config()\n",  # may change it
    "class Config:\n    DEPTH = 2\n\n    def scaled(self):\n        return 2\n\n"
    "config = Config()\n",  # a method: not a constants-only class
    "class Config:\n    DEPTH = 2\n\nconfig = Config(3)\n",  # arguments: not the class's values
    "class Config:\n    DEPTH = 2\n\ndef f(c):\n    c.DEPTH += 1\n\nconfig = Config()\n"
    "config.DEPTH += 1\n",
])
def test_classes_whose_values_may_differ_are_not_constants(src: str) -> None:
    env = _constants(src)
    assert "config.DEPTH" not in env, env


@pytest.mark.slow
def test_a_loop_over_a_config_depth_unrolls_and_matches_keras(tmp_path: Path) -> None:
    src = HEAD + CONFIG
    result = convert_source(src, "net.py")
    assert not result.unmapped, [(u.keras_name, u.reason) for u in result.unmapped]
    code = result.source
    assert "keras" not in code.replace("Keras", ""), code
    assert "nn.Linear(config.WIDTH, config.HIDDEN)" in code, code  # the names kept
    assert "def __init__(self) -> None:" in code, code  # config is a global, not a parameter
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    install()
    keras_model = exec_source(src, "k2l_original")["create_model"]()
    module = exec_source(code, "k2l_converted")["create_model"]()
    eq = compare(keras_model, module)
    assert eq.passed, f"{eq.message}\n{code}"
    script = convert_source(src + textwrap.dedent('''
        if __name__ == "__main__":
            model = create_model()
            model.compile(optimizer="adam", loss="categorical_crossentropy")
            x = np.random.rand(16, 8).astype("float32")
            y = np.eye(3, dtype="float32")[np.arange(16) % 3]
            model.fit(x, y, epochs=1, batch_size=8)
        '''), "script.py")
    assert not script.unmapped, [(u.keras_name, u.reason) for u in script.unmapped]
    run = run_without_tf(script.source, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
