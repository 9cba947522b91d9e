"""Keras's global mixed-precision policy → the Lightning Trainer's ``precision``."""

from __future__ import annotations

import textwrap

from agent.rules.convert import convert_source

SCRIPT = """
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers, mixed_precision

USE_MIXED = True
if USE_MIXED:
    policy = mixed_precision.Policy("{policy}")
    mixed_precision.set_global_policy(policy)

model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                          layers.Dense(1, dtype="float32")])
model.compile(optimizer="adam", loss="mse")
x = np.zeros((16, 4), dtype="float32")
y = np.zeros((16, 1), dtype="float32")
model.fit(x, y, epochs=1, batch_size=8)
"""


def test_policy_in_a_branch_becomes_the_trainer_precision() -> None:
    result = convert_source(textwrap.dedent(SCRIPT.format(policy="mixed_float16")), "mp.py")
    code = result.source
    assert 'TRAINER_PRECISION = "32-true"  # Keras\'s default policy\nif USE_MIXED:' in code
    assert '    TRAINER_PRECISION = "16-mixed"' in code
    trainer = code[code.index("pl.Trainer("):]
    assert "precision=TRAINER_PRECISION" in trainer[:trainer.index(")\n")]
    assert "mixed_precision" not in code.replace('"mixed_float16"', "")
    assert any('as Lightning\'s "16-mixed"' in w.message for w in result.warnings)
    compile(code, "mp.py", "exec")


def test_policy_without_trainer_is_reported_not_dropped() -> None:
    src = textwrap.dedent("""
        from tensorflow import keras
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        """)
    result = convert_source(src, "mp.py")
    assert 'set_global_policy("mixed_bfloat16")' in result.source
    assert any("no Lightning Trainer in this script" in w.message
               and '"bf16-mixed"' in w.message for w in result.warnings), result.warnings


def test_unreadable_policy_is_reported() -> None:
    src = textwrap.dedent(SCRIPT.format(policy="mixed_float16")).replace(
        'mixed_precision.Policy("mixed_float16")', "mixed_precision.Policy(NAME)")
    result = convert_source("NAME = input()\n" + src, "mp.py")
    assert "set_global_policy(policy)" in result.source
    assert any("not a literal the rules read" in w.message for w in result.warnings)
