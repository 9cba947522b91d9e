"""The script check runs the converted file as a program (issue 11, item 1)."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.commands.migrate import run_migrate
from agent.tools.fast_dev_run import Worker
from agent.tools.tf_original import tf_python

pytestmark = pytest.mark.slow

MODULE = textwrap.dedent('''\
    import numpy as np
    import pytorch_lightning as pl
    import torch
    from torch import nn


    class Net(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(4, 2)
            self.example_input_array = torch.zeros(2, 4)

        def forward(self, x):
            return self.layer(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)


    model = Net()
    ''')

TRAINS = MODULE + textwrap.dedent('''\
    data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    trainer = pl.Trainer(max_epochs=1000, fast_dev_run=False)
    trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=8))
    assert trainer.global_step == 1, trainer.global_step  # one batch, whatever was asked
    open("weights.txt", "w").write("written in scratch")
    ''')


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    with Worker(kill_grace_s=3.0) as shared:
        yield shared


def _run(worker: Worker, tmp_path: Path, source: str, limit: float = 30.0) -> tuple[str, str]:
    path = tmp_path / "script.py"
    path.write_text(source)
    result = worker.run_script(path, time_limit_s=limit)
    assert result.name == "script"
    return result.status, result.message + "".join(d.message for d in result.diagnostics)


def test_a_script_that_trains_passes_with_one_batch(worker: Worker, tmp_path: Path) -> None:
    status, message = _run(worker, tmp_path, TRAINS)
    assert (status, message) == ("passed", "the script ran to the end (every Trainer: one batch)")
    assert not (tmp_path / "weights.txt").exists()  # writes land in a scratch directory


def test_main_block_runs_and_its_crash_fails(worker: Worker, tmp_path: Path) -> None:
    source = MODULE + 'if __name__ == "__main__":\n    print(model(np.zeros((1, 4))))\n'
    status, message = _run(worker, tmp_path, source)
    assert status == "failed"
    assert "must be Tensor, not numpy.ndarray" in message


@pytest.mark.parametrize(("tail", "reason"), [
    ('np.load("data/train.npy")\n', "missing file"),
    ('import urllib.request\nurllib.request.urlopen("http://example.com/x.npz")\n', "network"),
    ("import socket\nsocket.create_connection(('example.com', 80))\n", "network"),
])
def test_data_and_network_needs_are_skipped_not_passed(
        worker: Worker, tmp_path: Path, tail: str, reason: str) -> None:
    status, message = _run(worker, tmp_path, MODULE + tail)
    assert status == "not_run"
    assert message.startswith("skipped: needs data/network: ")
    assert reason in message


def test_relative_data_next_to_the_script_is_found(worker: Worker, tmp_path: Path) -> None:
    import numpy as np

    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "x.npy", np.ones((3, 4), dtype="float32"))
    source = MODULE + 'print(model(torch.as_tensor(np.load("data/x.npy"))).shape)\n'
    assert _run(worker, tmp_path, source)[0] == "passed"


def test_hang_and_exit_code_fail_and_the_worker_survives(worker: Worker, tmp_path: Path) -> None:
    status, message = _run(worker, tmp_path, "while True:\n    pass\n", limit=2.0)
    assert status == "failed" and "time limit of 2 s" in message
    status, message = _run(worker, tmp_path, "import sys\nsys.exit(3)\n")
    assert status == "failed" and "exited with 3" in message
    assert _run(worker, tmp_path, "import sys\nsys.exit(0)\n")[0] == "passed"
    assert worker.ping()


SUBCLASSED_KERAS = textwrap.dedent('''\
    import numpy as np
    import keras
    from keras import layers


    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.flat = layers.Flatten()
            self.out = layers.Dense(10, activation="softmax")

        def call(self, x):
            return self.out(self.flat(x))


    model = Classifier()
    model(np.zeros((1, 28, 28, 1)))
    ''')


def test_migrate_reports_a_script_that_crashes_after_conversion(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "net.py").write_text(SUBCLASSED_KERAS)
    out = tmp_path / "out"
    code = run_migrate(src, out=out, in_place=False, force=True, diff=False, report=None,
                       jobs=1, no_llm=True, no_validate=False, changed_only=None, llm_cli={})
    report = json.loads((out / "report.json").read_text())
    (entry,) = report["files"]
    checks = {c["name"]: c for c in entry["checks"]}
    assert checks["script"]["status"] == "failed", checks["script"]
    assert entry["needs_attention"] and code == 1


BROKEN_BEFORE = textwrap.dedent('''\
    import numpy as np
    from tensorflow import keras

    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((8, 4)), np.zeros((8, 2)), epochs=50, verbose=0)
    print(model.predict(np.zeros((2, 5))))  # the wrong width: broken before any conversion
    ''')


def _validate_with_original(tmp_path: Path) -> Any:
    from agent.validate import validate_files

    original = tmp_path / "src" / "broken.py"
    original.parent.mkdir()
    original.write_text(BROKEN_BEFORE)
    converted = tmp_path / "broken.py"
    converted.write_text(MODULE + "model(torch.zeros(2, 5))\n")  # fails the same way
    return validate_files([converted], checks=("parse", "script"),
                          originals={converted: original})[converted][-1]


def test_without_tensorflow_a_failure_stands_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K2L_TF_PYTHON", str(tmp_path / "no-such-python"))
    script = _validate_with_original(tmp_path)
    assert script.status == "failed"
    assert "the original was not run" in script.message


@pytest.mark.tensorflow
def test_a_script_already_broken_is_not_blamed_on_the_conversion(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = os.environ.get("K2L_TEST_TF_PYTHON", "")
    if made:
        monkeypatch.setenv("K2L_TF_PYTHON", made)
    if tf_python()[0] is None:
        pytest.skip(tf_python()[1])
    script = _validate_with_original(tmp_path)
    assert script.status == "not_run", script.message
    assert script.message.startswith("the original script fails too under TensorFlow")
