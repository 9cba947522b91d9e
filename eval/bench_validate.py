"""Cold vs warm cost of the fast_dev_run check (and of a whole validate_files batch).

cold = the first file, including starting the worker (importing torch and Lightning);
warm = the per-file cost once the worker is up (median over the files after one warm-up).

    .venv/bin/python eval/bench_validate.py [--files 10] [--no-batch]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.tools.fast_dev_run import Worker  # noqa: E402
from agent.validate import validate_files  # noqa: E402

HEADER = """\
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
"""

# (layers built in __init__, forward body, example input shape); all classify into N classes.
VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("self.body = nn.Sequential(nn.Flatten(), nn.Linear({d}, {h}), nn.ReLU())",
     "return self.head(self.body(x))", "2, {d}"),
    ("self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), "
     "nn.Flatten(), nn.Linear(4, {h}))",
     "return self.head(self.body(x))", "2, 1, 16, 16"),
    ("self.rnn = nn.LSTM({d}, {h}, batch_first=True)",
     "out, _ = self.rnn(x)\n        return self.head(out[:, -1])", "2, 5, {d}"),
    ("self.body = nn.Sequential(nn.Linear({d}, {h}), nn.BatchNorm1d({h}), nn.Dropout(0.1))",
     "return self.head(F.gelu(self.body(x)))", "2, {d}"),
)


def module_source(index: int) -> str:
    layers, forward, shape = VARIANTS[index % len(VARIANTS)]
    d, h, n = 8 + index, 16 + 2 * index, 3 + index % 4
    return HEADER + f"""

class Model{index}(pl.LightningModule):
    def __init__(self):
        super().__init__()
        {layers.format(d=d, h=h)}
        self.head = nn.Linear({h}, {n})
        self.example_input_array = torch.zeros({shape.format(d=d)})

    def forward(self, x):
        {forward}

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
"""


def write_modules(directory: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = directory / f"model_{i}.py"
        path.write_text(module_source(i), encoding="utf-8")
        paths.append(path)
    return paths


def bench_worker(paths: list[Path]) -> tuple[float, list[float]]:
    with Worker() as worker:
        started = time.perf_counter()
        first = worker.validate(paths[0])
        cold = time.perf_counter() - started
        assert first.status == "passed", first
        worker.validate(paths[1])  # warm-up: first Trainer, first LSTM kernels
        warm = []
        for path in paths[2:]:
            started = time.perf_counter()
            result = worker.validate(path)
            warm.append(time.perf_counter() - started)
            assert result.status == "passed", result
    return cold, warm


def bench_batch(paths: list[Path], cache: Path) -> tuple[float, float]:
    """Whole validate_files calls: first with an empty mypy cache, then with a warm one."""
    times = []
    for _ in range(2):
        started = time.perf_counter()
        results = validate_files(paths, mypy_cache_dir=cache)
        times.append(time.perf_counter() - started)
        failed = [p for p, rs in results.items() if any(r.status != "passed" for r in rs)]
        assert not failed, failed
    return times[0], times[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--no-batch", action="store_true", help="skip the validate_files runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="k2l-bench-") as tmp:
        paths = write_modules(Path(tmp), max(args.files, 3))
        cold, warm = bench_worker(paths)
        median = statistics.median(warm)
        print(f"fast_dev_run cold (first file incl. worker start): {cold:.3f} s")
        print(f"fast_dev_run warm per file: median {median:.3f} s, "
              f"mean {statistics.mean(warm):.3f} s, max {max(warm):.3f} s "
              f"over {len(warm)} files")
        print(f"cold / warm ratio: {cold / median:.0f}x")
        if not args.no_batch:
            first, second = bench_batch(paths, Path(tmp) / "mypy-cache")
            n = len(paths)
            print(f"validate_files, {n} files, all checks, empty mypy cache: {first:.2f} s "
                  f"({first / n:.2f} s/file)")
            print(f"validate_files, {n} files, all checks, warm mypy cache: {second:.2f} s "
                  f"({second / n:.2f} s/file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
