"""The mask Keras passes to a custom layer called on several tensors, per Keras generation.

Measured on Keras 3.15 (torch backend) and tf_keras 2.21 (TensorFlow): a ``call(inputs,
memory, mask=None)`` called as ``layer(x, memory)`` gets ``x``'s mask in Keras 2 and None in
Keras 3, which passes each input's mask only to ``<arg>_mask`` parameters (Keras 2 fills
none of those); both give the output ``x``'s mask (``compute_mask`` over the first input).
The converted model passes what the script's own Keras passed (keras_generation.py:
``tensorflow.keras`` is Keras 2, ``keras.ops`` Keras 3), checked numerically against both;
where the script does not say which Keras it ran, the warning stays.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

os.environ["KERAS_BACKEND"] = "torch"

import keras
import libcst as cst
import numpy as np
import pytest
import torch

from agent.equivalence import exec_source
from agent.rules.convert import convert_source
from agent.rules.imports import collect_imports
from agent.rules.keras_generation import keras_generation
from agent.tf_shim import install
from agent.tools.tf_original import tf_python

STEPS, DIM = 6, 3

# weight-free models: the outputs depend on the masks alone, so a Keras run in another
# interpreter (tf_keras) is compared without porting weights
KERAS2 = '''\
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

STEPS, DIM = 6, 3


class Decoder(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, memory, mask=None):
        if mask is not None:
            keep = tf.cast(mask, inputs.dtype)[:, :, tf.newaxis]
        return (inputs + 2.0 * memory) * keep


x_in = keras.Input(shape=(STEPS, DIM))
memory_in = keras.Input(shape=(STEPS, DIM))
x = layers.Masking()(x_in)
y = Decoder()(x, memory_in)
model = keras.Model([x_in, memory_in], layers.GlobalAveragePooling1D()(y))
'''

KERAS3 = '''\
import keras
from keras import layers, ops

STEPS, DIM = 6, 3


class Decoder(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, memory, mask=None, memory_mask=None):
        out = inputs + 2.0 * memory
        if mask is not None:
            out = out * 0.0
        if memory_mask is not None:
            out = out * ops.cast(memory_mask, out.dtype)[:, :, None]
        return out


x_in = keras.Input(shape=(STEPS, DIM))
memory_in = keras.Input(shape=(STEPS, DIM))
x = layers.Masking()(x_in)
memory = layers.Masking()(memory_in)
y = Decoder()(x, memory)
model = keras.Model([x_in, memory_in], layers.GlobalAveragePooling1D()(y))
'''

TF_RUN = """
import json, sys
import numpy as np
args = json.loads(sys.argv[1])
scope = {}
exec(args["src"], scope)
out = scope["model"]([np.asarray(a, "float32") for a in args["inputs"]], training=False)
print(json.dumps(np.asarray(out).tolist()))
"""


def _inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, STEPS, DIM)).astype("float32")
    memory = rng.normal(size=(3, STEPS, DIM)).astype("float32")
    x[0, :2] = 0.0  # pre-padded, post-padded, a hole: Masking's zero steps
    x[1, 4:] = 0.0
    x[2, 3] = 0.0
    memory[1, :3] = 0.0
    memory[2, 5] = 0.0
    return [x, memory]


def _converted(src: str) -> tuple[str, np.ndarray]:
    result = convert_source(src, "model.py")
    assert not result.unmapped, result.unmapped
    assert not [w.message for w in result.warnings if "mask" in w.message.lower()], \
        result.warnings
    module = exec_source(result.source, "k2l_converted")["model"]
    module.eval()
    with torch.no_grad():
        got = module(*(torch.as_tensor(a) for a in _inputs())).numpy()
    return result.source, got


def _keras3(src: str) -> np.ndarray:
    keras.backend.clear_session()
    install()  # ``tensorflow.keras`` -> Keras 3 (and tf ops on it) in this interpreter
    model = exec_source(src, "k2l_original")["model"]
    return keras.ops.convert_to_numpy(model(_inputs(), training=False))


def _tf_keras2(src: str) -> np.ndarray:
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    args = json.dumps({"src": src, "inputs": [a.tolist() for a in _inputs()]})
    done = subprocess.run([python, "-c", TF_RUN, args], capture_output=True, text=True,
                          timeout=300, check=False,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "1",
                               "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    if done.returncode != 0 and "tf_keras" in done.stderr:
        pytest.skip("TensorFlow there has no tf_keras (Keras 2)")
    assert done.returncode == 0, done.stderr[-3000:]
    return np.asarray(json.loads(done.stdout.strip().splitlines()[-1]), "float32")


def test_a_tf_keras_script_passes_the_first_inputs_mask_as_keras_2_did() -> None:
    code, got = _converted(KERAS2)
    assert "self.decoder(x, memory_in, mask=mask)" in code, code
    np.testing.assert_allclose(got, _tf_keras2(KERAS2), atol=1e-5, err_msg=code)


@pytest.mark.slow
def test_keras_3_would_pass_no_mask_there() -> None:
    """The difference, measured: Keras 3 runs the same script with ``mask=None`` (here an
    unbound local, the failure a Keras 2 script meets under Keras 3)."""
    with pytest.raises(Exception, match="keep"):
        _keras3(KERAS2)


def test_a_keras_3_script_passes_only_the_arg_masks() -> None:
    code, got = _converted(KERAS3)
    assert "self.decoder(x, memory, memory_mask=mask_1)" in code, code
    np.testing.assert_allclose(got, _keras3(KERAS3), atol=1e-5, err_msg=code)


def test_keras_2_fills_no_arg_masks_and_keras_3_no_mask_here() -> None:
    """The Keras 3 script under tf_keras: ``mask`` is the first input's, ``memory_mask`` None
    (the zeroed output), not Keras 3's numbers: the two really differ."""
    src = KERAS3.replace("import keras\nfrom keras import layers, ops\n",
                         "from tensorflow import keras\nfrom tensorflow.keras import layers\n"
                         "from tensorflow.keras import backend as ops\n")
    theirs = _tf_keras2(src)
    np.testing.assert_allclose(theirs, 0.0)
    assert np.abs(_keras3(KERAS3)).max() > 0.1


def test_an_unknown_keras_keeps_the_warning() -> None:
    src = KERAS2.replace("import tensorflow as tf\nfrom tensorflow import keras\n"
                         "from tensorflow.keras import layers\n",
                         "import keras\nfrom keras import layers\n").replace(
        "tf.cast(mask, inputs.dtype)[:, :, tf.newaxis]", "mask[:, :, None]")
    result = convert_source(src, "model.py")
    warnings = [w.message for w in result.warnings]
    assert any("call() reads mask, which Keras passed implicitly" in w for w in warnings), \
        warnings
    assert "mask=mask" not in result.source.split("def forward")[-1]


@pytest.mark.parametrize(("code", "generation"), [
    ("from tensorflow import keras\n", 2),
    ("import tensorflow as tf\nx = tf.keras.layers.Dense(2)\n", 2),
    ("import tf_keras as keras\n", 2),
    ("from keras.layers.core import Dense\n", 2),
    ("import keras\nfrom keras import ops\n", 3),
    ("import os\nos.environ['KERAS_BACKEND'] = 'jax'\nimport keras\n", 3),
    ("from tensorflow import keras\ny = keras.ops.relu(1.0)\n", 3),
    ("import keras\nfrom keras import layers\n", None),
])
def test_the_scripts_keras_is_read_off_its_imports(code: str, generation: int | None) -> None:
    code = textwrap.dedent(code)
    assert keras_generation(code, collect_imports(cst.parse_module(code))) == generation


SUBCLASSED = KERAS2.split("x_in = keras.Input")[0] + '''
class Pooled(keras.Model):
    def __init__(self):
        super().__init__()
        self.masking = layers.Masking()
        self.decoder = Decoder()
        self.pool = layers.GlobalAveragePooling1D()

    def call(self, x):
        masked = self.masking(x)
        memory = x * 2.0
        y = self.decoder(masked, memory)
        return self.pool(y)


model = Pooled()
'''
TF_RUN_ONE = TF_RUN.replace('[np.asarray(a, "float32") for a in args["inputs"]]',
                            'np.asarray(args["inputs"][0], "float32")')


def test_a_subclassed_tf_keras_model_passes_the_first_inputs_mask() -> None:
    result = convert_source(SUBCLASSED, "model.py")
    assert not [w.message for w in result.warnings if "mask" in w.message.lower()], \
        result.warnings
    code = result.source
    assert "self.decoder(masked, memory, mask=mask)" in code, code
    module = exec_source(code, "k2l_converted")["model"]
    module.eval()
    x = _inputs()[0]
    with torch.no_grad():
        got = module(torch.as_tensor(x)).numpy()
    python = os.environ.get("K2L_TEST_TF_PYTHON", "") or tf_python()[0] or ""
    if not python:
        pytest.skip("no Python with TensorFlow (K2L_TEST_TF_PYTHON / K2L_TF_PYTHON)")
    done = subprocess.run([python, "-c", TF_RUN_ONE, json.dumps(
        {"src": SUBCLASSED, "inputs": [x.tolist()]})], capture_output=True, text=True,
        timeout=300, check=False, env={**os.environ, "TF_USE_LEGACY_KERAS": "1",
                                       "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.asarray(json.loads(done.stdout.strip().splitlines()[-1]), "float32")
    np.testing.assert_allclose(got, theirs, atol=1e-5, err_msg=code)
