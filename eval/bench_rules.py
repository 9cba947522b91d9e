"""Rules-stage throughput vs libcst's bare parse, on a generated corpus (issue 2 "Speed").

Prints source lines per second (one core) for `libcst.parse_module` alone and for the whole
rules stage (`convert_source`: parse, import resolution, extraction, codegen, import fixing),
and their ratio. Target: rules >= 1/3 of bare parse speed.

    python eval/bench_rules.py [--files 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import time

import libcst as cst

from agent.rules.convert import convert_source

LAYERS = [
    'layers.Dense({u}, activation="relu")', "layers.Dropout(0.2)", "layers.BatchNormalization()",
    'layers.Dense({u}, activation="tanh")', "layers.LayerNormalization()",
]


def make_file(rng: random.Random, k: int) -> str:
    """A realistic module: helpers, a Sequential model, a functional model, plain code."""
    seq = ",\n        ".join(rng.choice(LAYERS).format(u=rng.choice([16, 32, 64]))
                             for _ in range(rng.randint(3, 8)))
    helpers = "\n\n".join(
        f"def helper_{k}_{i}(values, scale={i}):\n"
        f"    total = 0\n    for v in values:\n        total += v * scale\n"
        f"    return {{'total': total, 'n': len(values)}}" for i in range(rng.randint(3, 8)))
    return f'''"""Generated module {k}."""
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

FEATURES = {rng.randint(4, 64)}


{helpers}


def build_mlp():
    model = keras.Sequential([
        keras.Input(shape=(FEATURES,)),
        {seq},
        layers.Dense(3, activation="softmax"),
    ])
    return model


def build_functional():
    a = keras.Input(shape=(FEATURES,))
    b = keras.Input(shape=(8,))
    x = layers.Dense(32, activation="relu")(a)
    y = layers.Dense(32, activation="relu")(b)
    z = layers.concatenate([x, y])
    out = layers.Dense(1, activation="sigmoid")(z)
    return keras.Model([a, b], out)


if __name__ == "__main__":
    data = np.random.default_rng({k}).normal(size=(16, FEATURES))
    print(helper_{k}_0(list(data[0])))
'''


CUSTOM = '''

class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return tf.math.tanh(inputs) * self.factor


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(32, activation="relu")
        self.scale = Scale()
        self.out = layers.Dense(2)

    def call(self, inputs, training=None):
        return self.out(self.scale(self.hidden(inputs)))
'''


def with_classes(src: str) -> str:
    """The same module plus a custom layer and a subclassed model (the slower path)."""
    return src.replace("from tensorflow import keras", "import tensorflow as tf\n"
                       "from tensorflow import keras") + CUSTOM


def bench(files: list[str], fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for src in files:
            fn(src)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--classes-every", type=int, default=4,
                        help="every Nth file also defines a custom layer and a subclassed model")
    args = parser.parse_args()
    rng = random.Random(0)
    plain = [make_file(rng, k) for k in range(args.files)]
    n = args.classes_every
    for name, corpus in (("plain", plain),
                         (f"1 in {n} with classes", [with_classes(s) if k % n == 0 else s
                                                     for k, s in enumerate(plain)])):
        report(name, corpus, args.repeat)


def report(name: str, corpus: list[str], repeat: int) -> None:
    lines = sum(src.count("\n") for src in corpus)
    assert all(convert_source(s).models for s in corpus[:3]), "corpus must exercise the rules"
    parse = bench(corpus, cst.parse_module, repeat)
    rules = bench(corpus, convert_source, repeat)
    print(f"corpus ({name}): {len(corpus)} files, {lines} lines")
    print(f"libcst parse only : {lines / parse:10,.0f} lines/s")
    print(f"rules stage       : {lines / rules:10,.0f} lines/s")
    print(f"rules / parse speed ratio: {parse / rules:.2f} (target >= 0.33)")


if __name__ == "__main__":
    main()
