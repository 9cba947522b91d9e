"""validate_files / validate_source: the ordered checks on converted-looking code."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.records import CheckResult
from agent.tools import mypy as mypy_tool
from agent.tools.fast_dev_run import Worker
from agent.validate import CHECKS, validate_files, validate_source

pytestmark = pytest.mark.slow

GOOD = textwrap.dedent(
    '''\
    """Converted from Keras."""
    import pytorch_lightning as pl
    import torch
    import torch.nn.functional as F
    from torch import nn

    NUM_CLASSES = 10


    class Net(pl.LightningModule):
        def __init__(self, num_classes: int = NUM_CLASSES) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, kernel_size=3)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.out = nn.Linear(4, num_classes)
            self.example_input_array = torch.zeros(2, 1, 12, 12)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(F.relu(self.conv(x))).flatten(1)
            return self.out(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = F.cross_entropy(self(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)


    model = Net()
    trainer = pl.Trainer(max_epochs=10)
    trainer.fit(model, torch.load("train.pt"))
    '''
)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    with Worker(kill_grace_s=3.0) as shared:
        shared.allow([tmp_path_factory.getbasetemp()])  # every test's tmp_path, one start
        yield shared


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def _write(directory: Path, name: str, source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(source, encoding="utf-8")
    return path


def _statuses(results: tuple[CheckResult, ...]) -> dict[str, str]:
    return {r.name: r.status for r in results}


def _line_of(source: str, needle: str) -> int:
    return next(i for i, text in enumerate(source.splitlines(), 1) if needle in text)


def test_converted_code_passes_every_check(
    tmp_path: Path, worker: Worker, mypy_cache: Path
) -> None:
    path = _write(tmp_path, "model.py", GOOD)
    results = validate_files([path], worker=worker, mypy_cache_dir=mypy_cache)[path]
    assert [r.name for r in results] == list(CHECKS)
    assert all(r.status == "passed" for r in results), results
    assert any(mypy_cache.iterdir())  # the cache is where we asked for it


def test_each_broken_file_stops_at_its_own_check(
    tmp_path: Path, worker: Worker, mypy_cache: Path
) -> None:
    broken = {
        "syntax.py": GOOD.replace("def forward(self, x: torch.Tensor)", "def forward(self, x:"),
        "undefined.py": GOOD.replace("F.relu(self.conv(x))", "F.relu(self.conv(inputs))"),
        "unused.py": GOOD.replace("import torch\n", "import torch\nimport numpy as np\n"),
        "typed.py": GOOD.replace("nn.Linear(4, num_classes)", 'nn.Linear("4", num_classes)'),
        "shape.py": GOOD.replace("nn.Linear(4, num_classes)", "nn.Linear(8, num_classes)"),
        "nan.py": GOOD.replace("return loss\n", "return loss / 0.0 * 0.0\n"),
        "good.py": GOOD,
    }
    paths = {name: _write(tmp_path, name, source) for name, source in broken.items()}
    results = validate_files(list(paths.values()), worker=worker, mypy_cache_dir=mypy_cache)
    stops = {
        name: next((r.name for r in results[path] if r.status == "failed"), None)
        for name, path in paths.items()
    }
    assert stops == {
        "syntax.py": "parse",
        "undefined.py": "ruff",
        "unused.py": "ruff",
        "typed.py": "mypy",
        "shape.py": "fast_dev_run",
        "nan.py": "fast_dev_run",
        "good.py": None,
    }

    undefined = dict((r.name, r) for r in results[paths["undefined.py"]])
    (finding,) = undefined["ruff"].diagnostics
    assert (finding.code, finding.line) == ("F821", _line_of(broken["undefined.py"], "inputs"))
    assert finding.file == str(paths["undefined.py"])
    assert undefined["mypy"].status == "not_run"
    assert undefined["mypy"].message == "earlier check failed: ruff"
    assert undefined["fast_dev_run"].message == "earlier check failed: ruff"

    unused = {r.name: r for r in results[paths["unused.py"]]}
    assert [d.code for d in unused["ruff"].diagnostics] == ["F401"]

    typed = {r.name: r for r in results[paths["typed.py"]]}
    codes = {(d.code, d.line) for d in typed["mypy"].diagnostics}
    assert ("arg-type", _line_of(broken["typed.py"], 'nn.Linear("4"')) in codes

    shape = {r.name: r for r in results[paths["shape.py"]]}
    assert shape["fast_dev_run"].diagnostics[0].line == _line_of(GOOD, "return self.out(x)")

    nan = {r.name: r for r in results[paths["nan.py"]]}
    assert nan["fast_dev_run"].diagnostics[0].code == "nan-loss"

    syntax = {r.name: r for r in results[paths["syntax.py"]]}
    assert syntax["parse"].diagnostics[0].line == _line_of(broken["syntax.py"], "def forward")
    assert _statuses(results[paths["syntax.py"]])["ruff"] == "not_run"


def test_mypy_runs_once_per_batch_even_with_clashing_names(
    tmp_path: Path, mypy_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(args: list[str], **kw: Any) -> Any:
        calls.append(args)
        return real_run(args, **kw)

    monkeypatch.setattr(subprocess, "run", counting_run)  # only mypy runs in this test
    a = _write(tmp_path / "a", "model.py", "def f() -> int:\n    return 1\n")
    b = _write(tmp_path / "b", "model.py", 'def f() -> int:\n    return "no"\n')
    c = _write(tmp_path / "b", "train.py", "x: int = 1\n")
    results = mypy_tool.run_mypy([a, b, c], cache_dir=mypy_cache)
    assert {p: r.status for p, r in results.items()} == {a: "passed", b: "failed", c: "passed"}
    # two files named model.py cannot share a mypy run; everything else does
    assert len(calls) == 2
    assert results[b].diagnostics[0].line == 2
    assert results[b].diagnostics[0].file == str(b)


def test_mypy_ignores_the_projects_strict_config(tmp_path: Path, mypy_cache: Path) -> None:
    # unannotated functions would fail under this repository's strict [tool.mypy]
    _write(tmp_path, "pyproject.toml", "[tool.mypy]\nstrict = true\n")
    path = _write(tmp_path, "loose.py", "def f(x):\n    return x\n")
    assert mypy_tool.run_mypy([path], cache_dir=mypy_cache)[path].status == "passed"


def test_requested_checks_only(tmp_path: Path) -> None:
    path = _write(tmp_path, "model.py", GOOD)
    results = validate_files([path], checks=("ruff", "parse"))[path]
    assert [r.name for r in results] == ["parse", "ruff"]
    with pytest.raises(ValueError):
        validate_files([path], checks=("pylint",))


def test_validate_source_names_the_given_file(worker: Worker, mypy_cache: Path) -> None:
    source = GOOD.replace("nn.Linear(4, num_classes)", "nn.Linear(8, num_classes)")
    results = validate_source(source, "models/net.py", worker=worker, mypy_cache_dir=mypy_cache)
    fdr = results[-1]
    assert (fdr.name, fdr.status) == ("fast_dev_run", "failed")
    assert all(d.file == "models/net.py" for d in fdr.diagnostics)
    assert "k2l-validate-" not in fdr.diagnostics[0].message
