"""A converted model's symbolic statement whose name the script rebinds before reading it
(``logits = mlp(inputs, ...)`` then ``logits, action = sample(obs)`` in the loop) goes with
the model: the Keras layers it kept held the whole script, tape loops included, in TF."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst

from agent.rules.convert import convert_source
from agent.rules.models.dead_bindings import read_before_rebound

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")
IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)

SCRIPT = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras
    from tensorflow.keras import layers

    N_OBS, N_ACT = 5, 3


    def tower(x, sizes, activation=tf.tanh):
        for size in sizes[:-1]:
            x = layers.Dense(size, activation=activation)(x)
        return layers.Dense(sizes[-1])(x)


    def pick(observation):
        scores = policy(observation)
        return scores, tf.argmax(scores, axis=1)


    def improve(observation, chosen):
        with tf.GradientTape() as tape:
            scores = policy(observation)
            loss = -tf.reduce_mean(tf.reduce_sum(
                tf.one_hot(chosen, N_ACT) * tf.nn.log_softmax(scores), axis=1))
        grads = tape.gradient(loss, policy.trainable_variables)
        opt.apply_gradients(zip(grads, policy.trainable_variables))
        return loss


    obs_input = keras.Input(shape=(N_OBS,))
    scores = tower(obs_input, [16, 16, N_ACT])
    policy = keras.Model(inputs=obs_input, outputs=scores)
    opt = keras.optimizers.Adam(1e-2)
    for step in range(4):
        observation = tf.convert_to_tensor(np.random.rand(8, N_OBS).astype("float32"))
        scores, chosen = pick(observation)
        print("SHAPE", tuple(scores.shape))
        loss = improve(observation, chosen)
    print("LOSS", float(loss))
""")


def test_rebound_tensor_goes_with_its_model(tmp_path: Path) -> None:
    res = convert_source(SCRIPT)
    assert not IMPORTS.search(res.source), res.source
    assert "obs_input = " not in res.source and "tower(" not in res.source, res.source
    assert "tape_gradient(loss, trainable_weights(policy))" in res.source, res.source
    script = tmp_path / "converted.py"
    script.write_text(res.source)
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:] + res.source
    assert run.stdout.count("SHAPE (8, 3)") == 4, run.stdout


def test_a_read_before_the_rebinding_keeps_it() -> None:
    """``print(scores)`` before the loop reads the Keras tensor: the statement stays."""
    code = SCRIPT.replace("opt = keras.optimizers.Adam(1e-2)\n",
                          "opt = keras.optimizers.Adam(1e-2)\nprint(scores)\n")
    res = convert_source(code)
    assert "tower(obs_input" in res.source, res.source


def _body(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(textwrap.dedent(code)).body)


def test_order_of_reads_and_stores() -> None:
    body = _body("""\
        x = make()
        for i in range(3):
            x = step(i)
            use(x)
        """)
    assert not read_before_rebound(body, 0, "x", set())
    # a store only inside a loop (it may run no times), then a read after it
    body = _body("""\
        x = make()
        for i in range(n):
            x = step(i)
        use(x)
        """)
    assert read_before_rebound(body, 0, "x", set())
    # both branches store: the read after sees the new value; one branch only: the old
    both = _body("""\
        x = make()
        if c:
            x = 1
        else:
            x = 2
        use(x)
        """)
    assert not read_before_rebound(both, 0, "x", set())
    one = _body("""\
        x = make()
        if c:
            x = 1
        use(x)
        """)
    assert read_before_rebound(one, 0, "x", set())
    # a function reading the global (defined above, called later) counts; a local does not
    glob = _body("""\
        def f():
            return x + 1
        x = make()
        x = 2
        """)
    assert read_before_rebound(glob, 1, "x", set())
    local = _body("""\
        def f(x):
            return x + 1
        def g():
            x = 3
            return x
        x = make()
        x = 2
        """)
    assert not read_before_rebound(local, 2, "x", set())
    # a statement that goes (in ``gone``) does not read
    gone = _body("""\
        x = make()
        y = wrap(x)
        x = 2
        """)
    assert not read_before_rebound(gone, 0, "x", {1})
    assert read_before_rebound(gone, 0, "x", set())


def test_a_class_reads_a_global_only_where_its_methods_do_not_bind_it() -> None:
    """``(_, width) = input_shape`` in a layer's build() binds its own ``_``: the class does
    not read the script's ``_`` (a graph's ``x, _ = Split(..)(x)``), a class attribute or a
    method without that binding does."""
    local = _body("""\
        class Split(layers.Layer):
            def build(self, input_shape):
                (_, width) = input_shape
                self.width = width
        x, _ = make()
        """)
    assert not read_before_rebound(local, 1, "_", set())
    for reads in ("    scale = _\n", "    def call(self, x):\n        return x * _\n"):
        body = _body("class Split(layers.Layer):\n" + reads + "x, _ = make()\n")
        assert read_before_rebound(body, 1, "_", set()), reads


def test_graph_statements_unpacking_into_an_eagerly_bound_name_go_with_the_model() -> None:
    code = textwrap.dedent("""\
        import keras
        import numpy as np
        from keras import layers


        class Split(layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units

            def build(self, input_shape):
                (_, width) = input_shape
                self.dense = layers.Dense(self.units)

            def call(self, x):
                y = self.dense(x)
                return y, y * 2.0


        y, _ = np.zeros(3), None
        inputs = keras.Input(shape=(6,))
        x, _ = Split(4)(inputs)
        x, _ = Split(4)(layers.ReLU()(x))
        model = keras.Model(inputs, layers.Dense(2)(x))
        """)
    res = convert_source(code)
    assert not IMPORTS.search(res.source), res.source
    assert "x, _ = self.split(inputs)" in res.source, res.source
