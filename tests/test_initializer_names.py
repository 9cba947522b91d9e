"""Initializer objects bound to a name (``init = tf.random_uniform_initializer(...)``, a
``keras.initializers.RandomNormal`` shared by two layers) no longer keep the model, and the
tape loop training it, in Keras: the call is written into the layers that read it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from agent.rules.convert import convert_source

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")
IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)

SCRIPT = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    N_IN = 6


    def make_policy():
        small = tf.random_uniform_initializer(minval=-0.01, maxval=0.01)
        inputs = layers.Input(shape=(N_IN,))
        h = layers.Dense(512, activation="relu")(inputs)
        out = layers.Dense(256, kernel_initializer=small)(h)
        return keras.Model(inputs, out)


    def make_value():
        shared = keras.initializers.RandomNormal(stddev=0.02)
        inputs = layers.Input(shape=(N_IN,))
        h = layers.Dense(512, kernel_initializer=shared)(inputs)
        out = layers.Dense(1, kernel_initializer=shared)(h)
        return keras.Model(inputs, out)


    policy = make_policy()
    value = make_value()
    w = policy.get_weights()[-2]
    print("POLICY", float(w.min()), float(w.max()), float(w.std()))
    v = value.get_weights()[0]
    print("VALUE", float(v.std()))
    opt = keras.optimizers.Adam(1e-3)
    x = tf.convert_to_tensor(np.random.rand(32, N_IN).astype("float32"))
    target = tf.convert_to_tensor(np.random.rand(32, 1).astype("float32"))
    for step in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(value(x) - target))
        grads = tape.gradient(loss, value.trainable_variables)
        opt.apply_gradients(zip(grads, value.trainable_variables))
    print("LOSS", float(loss))
""")


def _run(tmp_path: Path, code: str) -> str:
    script = tmp_path / "converted.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:] + "\n" + code
    return res.stdout


def test_named_initializers_convert_with_the_models(tmp_path: Path) -> None:
    res = convert_source(SCRIPT)
    assert not IMPORTS.search(res.source), res.source
    assert "small" not in res.source and "shared" not in res.source, res.source
    assert re.search(r"nn\.init\.uniform_\([^)]*, -0\.01, 0\.01\)", res.source), res.source
    # both Linear layers of the value model: one loop over its modules
    assert "nn.init.normal_(module.weight, std=0.02)" in res.source, res.source
    assert "tape_gradient(" in res.source, res.source
    rules = {(c.line, c.rule) for c in res.changes}
    assert (10, "models.initializer_name") in rules and (18, "models.initializer_name") \
        in rules, rules
    out = _run(tmp_path, res.source)
    lo, hi, std = map(float, re.search(r"POLICY (\S+) (\S+) (\S+)", out).groups())  # type: ignore[union-attr]
    # Keras draws U(-0.01, 0.01) (std 0.02/sqrt(12)) and N(0, 0.02), untruncated
    assert -0.01 <= lo < -0.0099 and 0.0099 < hi <= 0.01, out
    assert abs(std - 0.02 / 12 ** 0.5) < 0.0002, out
    value_std = float(re.search(r"VALUE (\S+)", out).group(1))  # type: ignore[union-attr]
    assert abs(value_std - 0.02) < 0.001, out
    assert np.isfinite(float(re.search(r"LOSS (\S+)", out).group(1))), out  # type: ignore[union-attr]


def test_keras_draws_what_the_converted_layers_draw() -> None:
    """The converted init statements against Keras 3's own draws of the same initializers."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import torch

    uniform = keras.initializers.RandomUniform(minval=-0.01, maxval=0.01)((512, 256))
    normal = keras.initializers.RandomNormal(stddev=0.02)((6, 512))
    t_uniform = torch.nn.init.uniform_(torch.empty(256, 512), -0.01, 0.01)
    t_normal = torch.nn.init.normal_(torch.empty(512, 6), std=0.02)
    k_u, k_n = np.asarray(uniform), np.asarray(normal)
    assert abs(float(k_u.std()) - float(t_uniform.std())) < 0.0002
    assert abs(float(k_u.max()) - float(t_uniform.max())) < 0.0005
    assert abs(float(k_n.std()) - float(t_normal.std())) < 0.001


def test_shared_name_read_elsewhere_stays() -> None:
    """A name also read outside an initializer argument is not inlined (its object is used)."""
    code = textwrap.dedent("""\
        import tensorflow as tf
        from tensorflow import keras

        init = keras.initializers.RandomNormal(stddev=0.02)
        print(init)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_initializer=init)])
    """)
    res = convert_source(code)
    assert not any(c.rule == "models.initializer_name" for c in res.changes), res.changes


def test_tf1_defaults_are_not_guessed() -> None:
    """``tf.random_uniform_initializer()`` draws U(0, 1) in TF 1 and U(-0.05, 0.05) in TF 2:
    without its bounds written out it is reported, not converted either way."""
    code = textwrap.dedent("""\
        import tensorflow as tf
        from tensorflow import keras

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
            2, kernel_initializer=tf.random_uniform_initializer())])
    """)
    res = convert_source(code)
    assert "nn.init.uniform_" not in res.source
    assert any("TF 1 and TF 2 default minval, maxval differently" in u.reason
               for u in res.unmapped), res.unmapped
