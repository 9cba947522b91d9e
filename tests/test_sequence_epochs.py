"""A ``keras.utils.Sequence`` defining ``on_epoch_end`` (reshuffling, typically): Keras calls
it after every training epoch; the converted fit calls it from a Lightning callback, whether
the Sequence is a variable or built in the ``fit`` call."""

from __future__ import annotations

import textwrap
from pathlib import Path

from agent.rules.convert import convert_source
from tests.without_tf import run_without_tf

SOURCE = textwrap.dedent("""\
    import numpy as np
    import keras
    from keras import layers


    class Batches(keras.utils.Sequence):
        def __init__(self, x, y, batch_size=8):
            super().__init__()
            self.x, self.y, self.batch_size = x, y, batch_size
            self.order = np.arange(len(x))
            self.epochs_seen = 0

        def __len__(self):
            return len(self.x) // self.batch_size

        def __getitem__(self, idx):
            ids = self.order[idx * self.batch_size:(idx + 1) * self.batch_size]
            return self.x[ids], self.y[ids]

        def on_epoch_end(self):
            self.epochs_seen += 1
            np.random.shuffle(self.order)


    if __name__ == "__main__":
        x = np.random.rand(32, 4).astype("float32")
        y = np.random.rand(32, 1).astype("float32")
        model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        train_gen = Batches(x, y)
        model.fit(train_gen, epochs=3, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()])
        print("epochs seen", train_gen.epochs_seen)
        model.fit(Batches(x, y), epochs=2, verbose=0)
    """)


def test_the_converted_fit_calls_on_epoch_end(tmp_path: Path) -> None:
    result = convert_source(SOURCE)
    code = result.source
    assert "on_epoch_end is not called" not in code
    assert "on_train_epoch_end=lambda trainer, pl_module: train_gen.on_epoch_end()" in code
    # built in the call: reached through the loader that holds it
    assert "train_loader.dataset.on_epoch_end()" in code
    assert "np.asarray(Batches(" not in code  # was: NumPy iterating a Dataset without end
    done = run_without_tf(code, tmp_path, fast_dev_run=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # Keras 2 calls it after each of the 3 epochs (Keras 3 once more before the first,
    # after peeking a batch to build the model)
    assert "epochs seen 3" in done.stdout
