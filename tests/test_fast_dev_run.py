"""The warm worker's one-batch fast_dev_run check on converted-looking modules."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.records import CheckResult
from agent.tools.fast_dev_run import Worker

pytestmark = pytest.mark.slow

HEADER = """\
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
"""

GOOD = HEADER + """
class Classifier(pl.LightningModule):
    def __init__(self, num_classes=10):
        super().__init__()
        self.flatten = nn.Flatten()
        self.hidden = nn.Linear(28 * 28, 32)
        self.out = nn.Linear(32, num_classes)
        self.example_input_array = torch.zeros(1, 1, 28, 28)

    def forward(self, x):
        print('{"id": 1, "status": "failed"}')  # must not confuse the protocol
        return self.out(F.relu(self.hidden(self.flatten(x))))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
"""


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    with Worker(kill_grace_s=3.0) as shared:
        shared.allow([tmp_path_factory.getbasetemp()])  # every test's tmp_path, one start
        yield shared


def _check(worker: Worker, tmp_path: Path, source: str, name: str = "converted.py",
           **kw: float) -> CheckResult:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return worker.validate(path, **kw)  # type: ignore[arg-type]


def _line_of(source: str, needle: str) -> int:
    return next(i for i, text in enumerate(source.splitlines(), 1) if needle in text)


def test_converted_classifier_passes(worker: Worker, tmp_path: Path) -> None:
    result = _check(worker, tmp_path, GOOD)
    assert result.status == "passed", result
    assert "Classifier" in result.message and result.diagnostics == ()


def test_top_level_code_is_not_executed(worker: Worker, tmp_path: Path) -> None:
    marker = tmp_path / "top-level-ran"
    source = GOOD + f"""
open({str(marker)!r}, "w").write("ran")
x_train = torch.load("/nonexistent/data.pt")
model = Classifier(num_classes=3)
while True:
    pass
raise SystemExit("top level ran")
"""
    result = _check(worker, tmp_path, source)
    assert result.status == "passed", result
    # the call site's literal argument is used to build the model
    assert "Classifier" in result.message
    assert not marker.exists()


def test_class_index_targets_are_tried(worker: Worker, tmp_path: Path) -> None:
    source = GOOD.replace("F.cross_entropy(self(x), y)", "F.nll_loss(F.log_softmax(self(x), -1), y)")
    result = _check(worker, tmp_path, source)
    assert result.status == "passed", result
    assert "class indices" in result.message


def test_multi_input_model_gets_a_tuple_of_inputs(worker: Worker, tmp_path: Path) -> None:
    source = HEADER + """
class TwoTower(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(6, 8)
        self.head = nn.Linear(16, 1)
        self.example_input_array = (torch.zeros(2, 4), torch.zeros(2, 6))

    def forward(self, a, b):
        return torch.sigmoid(self.head(torch.cat([self.a(a), self.b(b)], dim=-1)))

    def training_step(self, batch, batch_idx):
        (a, b), y = batch
        return F.binary_cross_entropy(self(a, b), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
"""
    result = _check(worker, tmp_path, source)
    assert result.status == "passed", result


def test_multi_input_step_unpacking_a_flat_batch(worker: Worker, tmp_path: Path) -> None:
    """The rules' steps unpack the TensorDataset batches they build, ``a, b, y = batch``:
    the check feeds that layout first (the nested one stays for hand-written steps)."""
    source = HEADER + """
class TwoTower(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(6, 8)
        self.head = nn.Linear(16, 1)
        self.example_input_array = (torch.zeros(2, 4), torch.zeros(2, 6))

    def forward(self, a, b):
        return torch.sigmoid(self.head(torch.cat([self.a(a), self.b(b)], dim=-1)))

    def training_step(self, batch, batch_idx):
        a, b, y = batch
        return F.binary_cross_entropy(self(a, b), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
"""
    result = _check(worker, tmp_path, source)
    assert result.status == "passed", result


def test_manual_optimisation_runs_under_a_trainer(worker: Worker, tmp_path: Path) -> None:
    source = HEADER + """
class Manual(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.layer = nn.Linear(3, 2)
        self.example_input_array = torch.zeros(4, 3)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        x, y = batch
        loss = F.mse_loss(self(x), y)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
"""
    result = _check(worker, tmp_path, source)
    assert result.status == "passed", result


def test_shape_mismatch_in_forward_fails_with_its_line(worker: Worker, tmp_path: Path) -> None:
    source = GOOD.replace("nn.Linear(32, num_classes)", "nn.Linear(64, num_classes)")
    result = _check(worker, tmp_path, source)
    assert result.status == "failed"
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "crash"
    assert diagnostic.line == _line_of(source, "return self.out(")
    assert "shapes cannot be multiplied" in diagnostic.message


def test_nan_loss_fails(worker: Worker, tmp_path: Path) -> None:
    source = GOOD.replace("return loss\n", "return loss * float('nan')\n")
    result = _check(worker, tmp_path, source)
    assert result.status == "failed"
    assert [d.code for d in result.diagnostics] == ["nan-loss"]


def test_infinite_loop_in_forward_hits_the_time_limit(worker: Worker, tmp_path: Path) -> None:
    source = GOOD.replace(
        "        return self.out(F.relu(", "        while True:\n            x = x + 0\n        return self.out(F.relu("
    )
    starts = worker.starts
    result = _check(worker, tmp_path, source, time_limit_s=5.0)
    assert result.status == "failed"
    assert result.diagnostics[0].code == "timeout"
    assert result.diagnostics[0].line in (_line_of(source, "while True"),
                                          _line_of(source, "x = x + 0"))
    # the worker answered by itself and stays warm for the next file
    assert worker.starts == starts
    assert _check(worker, tmp_path, GOOD, "next.py").status == "passed"


def test_hang_the_worker_cannot_interrupt_kills_and_restarts_it(
    worker: Worker, tmp_path: Path
) -> None:
    source = GOOD.replace(
        "        return self.out(F.relu(",
        "        import signal\n        signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "        signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
        "        while True:\n            pass\n        return self.out(F.relu(",
    )
    starts = worker.starts
    result = _check(worker, tmp_path, source, time_limit_s=2.0)
    assert result.status == "failed"
    assert result.diagnostics[0].code == "timeout"
    assert "killed" in result.message
    assert _check(worker, tmp_path, GOOD, "after.py").status == "passed"
    assert worker.starts == starts + 1


def test_worker_crash_is_reported_and_the_worker_restarts(
    worker: Worker, tmp_path: Path
) -> None:
    source = GOOD.replace("        return self.out(F.relu(", "        import os\n        os._exit(3)\n        return self.out(F.relu(")
    result = _check(worker, tmp_path, source)
    assert result.status == "failed"
    assert result.diagnostics[0].code == "worker-crash"
    assert "code 3" in result.message
    assert _check(worker, tmp_path, GOOD, "again.py").status == "passed"


def test_memory_limit_stops_a_large_allocation(worker: Worker, tmp_path: Path) -> None:
    # 3 GiB of untouched address space: allowed without a limit on this machine's
    # overcommit, refused under a 512 MiB limit.
    source = GOOD.replace(
        "        self.example_input_array = torch.zeros(1, 1, 28, 28)",
        "        self.example_input_array = torch.zeros(1, 1, 28, 28)\n"
        "        self.scratch = torch.empty(3 * 1024 ** 3, dtype=torch.uint8)",
    )
    result = _check(worker, tmp_path, source, memory_limit_mb=512)
    assert result.status == "failed"
    assert result.diagnostics[0].code == "memory"
    assert result.diagnostics[0].line == _line_of(source, "torch.empty(")


def test_constructor_without_defaults_is_not_run(worker: Worker, tmp_path: Path) -> None:
    source = GOOD.replace("def __init__(self, num_classes=10)", "def __init__(self, num_classes)")
    result = _check(worker, tmp_path, source)
    assert result.status == "not_run"
    assert "num_classes" in result.message


def test_module_without_training_step_runs_forward_only(worker: Worker, tmp_path: Path) -> None:
    source = HEADER + """
class Encoder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(5, 3)
        self.example_input_array = torch.zeros(2, 5)

    def forward(self, x):
        return self.layer(x)
"""
    result = _check(worker, tmp_path, source)
    assert result.status == "passed"
    assert "forward only" in result.message


def test_file_without_lightning_module_is_not_run(worker: Worker, tmp_path: Path) -> None:
    result = _check(worker, tmp_path, HEADER + "\nX = 1\n")
    assert result.status == "not_run"
    assert "no LightningModule" in result.message


def test_reading_stdin_cannot_steal_the_protocol(worker: Worker, tmp_path: Path) -> None:
    source = GOOD.replace("        return self.out(F.relu(", "        input()\n        return self.out(F.relu(")
    result = _check(worker, tmp_path, source)
    assert result.status == "failed"
    assert "EOFError" in result.diagnostics[0].message
    assert _check(worker, tmp_path, GOOD, "after_stdin.py").status == "passed"


def test_class_needing_a_dropped_top_level_value_is_not_run(
    worker: Worker, tmp_path: Path
) -> None:
    source = GOOD.replace("def __init__(self, num_classes=10)",
                          "def __init__(self, num_classes=len(CLASSES))")
    source = source.replace("\nclass Classifier", "\nCLASSES = sorted(open('labels.txt'))\n\nclass Classifier")
    result = _check(worker, tmp_path, source)
    assert result.status == "not_run"
    assert "CLASSES" in result.message


def test_class_reading_a_value_the_guarded_script_computes_is_not_run(
    worker: Worker, tmp_path: Path
) -> None:
    """``nn.Linear(32, num_classes)`` where the script computes ``num_classes`` from its data
    under the main guard: the definitions alone cannot build it (not a conversion failure);
    a name bound nowhere is still a failure."""
    source = GOOD.replace("self.out = nn.Linear(32, num_classes)",
                          "self.out = nn.Linear(32, n_labels)")
    guarded = source + '\n\nif __name__ == "__main__":\n    n_labels = 10\n'
    result = _check(worker, tmp_path, guarded)
    assert result.status == "not_run"
    assert "'n_labels'" in result.message and "script" in result.message
    unbound = _check(worker, tmp_path, source, "unbound.py")
    assert unbound.status == "failed" and "constructor raised" in unbound.message


def test_missing_plotting_package_is_not_run_but_tensorflow_left_fails(
    worker: Worker, tmp_path: Path
) -> None:
    """A package the original imported too (a plotting library) and this environment lacks
    says nothing about the conversion: not run, with its name. TensorFlow left in the converted
    file is the conversion's failure."""
    plotting = "import k2l_absent_plotting_lib as plt\n" + GOOD
    result = _check(worker, tmp_path, plotting, "plots.py")
    assert result.status == "not_run", result
    assert "'k2l_absent_plotting_lib'" in result.message
    left = "import tensorflow as tf\n" + GOOD
    result = _check(worker, tmp_path, left, "keras_left.py")
    assert result.status == "failed", result
    assert "ModuleNotFoundError" in result.diagnostics[0].message


PER_SAMPLE_TARGET = HEADER + """
def nll(y_true, y_pred):
    mu, log_sigma = torch.chunk(y_pred, 2, dim=-1)
    y = torch.tile(y_true, (1, 3))  # one target per sample, read against every component
    return (((y - mu) / log_sigma.exp()) ** 2 + 2 * log_sigma).mean()


class Mixture(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(4, 6)
        self.example_input_array = torch.zeros(1, 4)

    def forward(self, x):
        return self.head(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nll(y, self(x))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
"""


def test_custom_loss_of_one_value_per_sample_gets_such_a_target(worker: Worker,
                                                                tmp_path: Path) -> None:
    """A custom loss that reads a (batch, 1) target against a (batch, 6) output: one-hot and
    class-index targets fail on its shapes, the per-sample target is tried last and fits."""
    result = _check(worker, tmp_path, PER_SAMPLE_TARGET)
    assert result.status == "passed", result.message
    assert "one float target per sample" in result.message
