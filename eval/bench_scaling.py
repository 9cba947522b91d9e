"""Rules time vs number of models in one file (issue 16 item 8: "linear time").

Generates one module with N small models (Sequential builders, functional builders and
module-level Sequential models with compile/fit, in rotation) and times ``convert_source``
on it. The per-model column should stay flat as N grows; a quadratic rule shows up as a
per-model time that grows with N. A benchmark, not a test: it prints a table.

    python eval/bench_scaling.py [--sizes 10,50,100,250,500,1000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import time

from agent.rules.convert import convert_source

HEADER = '''"""Generated module with {n} models."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

FEATURES = 16
'''

SEQUENTIAL = '''

def build_seq_{k}(units={u}):
    model = keras.Sequential([
        keras.Input(shape=(FEATURES,)),
        layers.Dense(units, activation="relu"),
        layers.Dropout(0.1),
        layers.Dense(2, activation="softmax"),
    ])
    return model
'''

FUNCTIONAL = '''

def build_fn_{k}():
    inputs = keras.Input(shape=(FEATURES,))
    x = layers.Dense({u}, activation="tanh")(inputs)
    x = layers.BatchNormalization()(x)
    outputs = layers.Dense(1)(x)
    return keras.Model(inputs, outputs)
'''

TRAINED = '''

model_{k} = keras.Sequential([
    keras.Input(shape=(FEATURES,)),
    layers.Dense({u}, activation="relu"),
    layers.Dense(3, activation="softmax"),
])
model_{k}.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
'''

KINDS = (SEQUENTIAL, FUNCTIONAL, TRAINED)


def make_module(n: int) -> str:
    """One file with ``n`` models, about 12 lines each."""
    parts = [HEADER.format(n=n)]
    for k in range(n):
        parts.append(KINDS[k % len(KINDS)].format(k=k, u=8 + k % 5 * 8))
    return "".join(parts)


def time_rules(src: str, repeat: int) -> tuple[float, int]:
    """Best CPU time of ``repeat`` runs: CPU, not wall-clock, so a busy shared machine
    slows every size alike instead of distorting the ratio."""
    best, models = float("inf"), 0
    for _ in range(repeat):
        start = time.process_time()
        conv = convert_source(src, "generated.py")
        best = min(best, time.process_time() - start)
        models = len(conv.models)
    return best, models


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,50,100,250,500,1000")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"{'models':>7} {'lines':>7} {'converted':>9} {'CPU s':>9} {'ms/model':>9} "
          f"{'ratio':>6}")
    first: float | None = None
    for n in sizes:
        src = make_module(n)
        seconds, converted = time_rules(src, args.repeat)
        per_model = seconds / n
        first = per_model if first is None else first
        print(f"{n:>7} {src.count(chr(10)):>7} {converted:>9} {seconds:>9.2f} "
              f"{per_model * 1e3:>9.2f} {per_model / first:>6.2f}")
    print("ratio: time per model relative to the smallest file (linear scaling keeps it ~1)")


if __name__ == "__main__":
    main()
