"""``tf.distribute`` strategies in converted scripts: the resolver and strategy go, models
built under ``with strategy.scope():`` convert, ``num_replicas_in_sync`` is 1, and the
script trains without TensorFlow; any use the rules do not rewrite keeps all as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from agent.rules.convert import convert_source
from agent.rules.semantics import changes_semantics

BLOCKED = ("import sys, runpy; sys.modules['keras'] = None; sys.modules['tensorflow'] = None; "
           "runpy.run_path(sys.argv[1], run_name='__main__')")

IMPORTS = re.compile(r"^\s*(import|from)\s+(keras|tensorflow)\b", re.M)
SCRIPT = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        print("Running on", resolver.master())
        strategy = tf.distribute.TPUStrategy(resolver)
    except ValueError:
        strategy = tf.distribute.MirroredStrategy()
    print("REPLICAS", strategy.num_replicas_in_sync)

    GLOBAL_BATCH = 16 * strategy.num_replicas_in_sync

    x = np.random.rand(64, 8).astype("float32")
    y = np.random.randint(0, 3, size=(64,))

    with strategy.scope():
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1)
    print("BATCH", GLOBAL_BATCH)
""")


def test_strategy_goes_and_the_scoped_model_converts(tmp_path: Path) -> None:
    res = convert_source(SCRIPT)
    assert not IMPORTS.search(res.source), res.source
    assert "strategy" not in res.source and "resolver" not in res.source
    assert "pl.LightningModule" in res.source and "trainer.fit(model" in res.source
    assert "GLOBAL_BATCH = 16 * 1" in res.source
    assert not any(u.reason for u in res.unmapped), res.unmapped
    rules = {(c.line, c.rule) for c in res.changes}
    # records point at the user's lines: the scope at 20, the Dense inside it at 21
    assert (20, "distribute.scope") in rules and (21, "layers.Dense") in rules, rules
    assert (13, "distribute.replicas") in rules and (15, "distribute.replicas") in rules
    assert "(line 21)" in res.source  # the class docstring names the model's line
    [warning] = [w for w in res.warnings if "tf.distribute" in w.message]
    assert warning.line == 6 and not changes_semantics(warning.message)
    script = tmp_path / "train.py"
    script.write_text(res.source)
    env = {**os.environ, "PL_TRAINER_FAST_DEV_RUN": "1"}
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(script)], capture_output=True,
                         text=True, timeout=180, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "REPLICAS 1" in run.stdout and "BATCH 16" in run.stdout, run.stdout


def test_plain_mirrored_strategy_with_single_statement_scope() -> None:
    src = textwrap.dedent("""\
        import tensorflow as tf
        from tensorflow import keras

        strategy = tf.distribute.MirroredStrategy()
        with strategy.scope(): model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.summary()
    """)
    res = convert_source(src)
    assert not IMPORTS.search(res.source) and "strategy" not in res.source, res.source
    assert "pl.LightningModule" in res.source


def test_strategy_run_keeps_everything_as_written() -> None:
    src = textwrap.dedent("""\
        import tensorflow as tf
        from tensorflow import keras

        strategy = tf.distribute.MirroredStrategy()
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])

        def step(x):
            return model(x)

        out = strategy.run(step, args=(tf.ones((2, 4)),))
    """)
    res = convert_source(src)
    assert "strategy = tf.distribute.MirroredStrategy()" in res.source
    assert "with strategy.scope():" in res.source
    assert not any(c.rule.startswith("distribute.") for c in res.changes)


def test_a_keras_model_left_keeps_the_strategy() -> None:
    src = textwrap.dedent("""\
        import tensorflow as tf
        from tensorflow import keras

        strategy = tf.distribute.MirroredStrategy()
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            other = keras.layers.SomeLayerNobodyHas(3)
    """)
    res = convert_source(src)
    assert "with strategy.scope():" in res.source, res.source
    assert "tf.distribute.MirroredStrategy()" in res.source
    assert not any("tf.distribute" in w.message for w in res.warnings)
