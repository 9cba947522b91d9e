"""Training-step speed of converted models vs hand-written PyTorch and Keras on torch (issue 5).

Users leave Keras partly for speed, so a converted model must not be slower than the same
model written by hand. Three benchmark cases (an MLP, a CNN on 28x28x1, an Embedding+BiLSTM
text model) are converted with the rules, and one training step (forward, loss, backward,
optimizer step) on a fixed CPU batch is timed for:

* converted: the generated LightningModule's ``training_step`` + its own optimizer;
* hand-written: the same architecture written directly in PyTorch (below), logits + the
  fused loss a PyTorch user would write, inputs already in PyTorch's layout;
* Keras: the original model on Keras 3's torch backend, ``model.train_on_batch``.

Warm-up steps first, then the median of N steps. Target: converted <= 1.1x hand-written.

Called outside a Trainer, ``self.log`` returns at once, so that table misses what logging
costs in real training: a second table times one epoch of ``trainer.fit`` over the same
batch (ms per step, best of ``--fits``), for the hand-written model wrapped in the smallest
LightningModule (its step: the loss alone) and for the converted module as generated.

    KERAS_BACKEND=torch python eval/bench_speed.py [--steps 30] [--warmup 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

CASES = Path(__file__).resolve().parent / "cases"
TARGET = 1.1


# -- the same models, written by hand in PyTorch


class HandMLP(nn.Module):
    """tier1_mlp_multiclass_keras3: 24 -> 64 -> 64 -> 5 with dropout 0.3."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(24, 64), nn.ReLU(), nn.Dropout(0.3),
                                 nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.3),
                                 nn.Linear(64, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class HandCNN(nn.Module):
    """tier1_cnn_mnist_like: two conv/pool blocks, dropout, 10-way linear, NCHW input."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Flatten(), nn.Dropout(0.5), nn.Linear(64 * 5 * 5, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class HandLSTM(nn.Module):
    """tier1_text_bilstm_imdb: Embedding(2000, 64) -> BiLSTM(32, sequences) -> BiLSTM(32)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(2000, 64)
        self.lstm1 = nn.LSTM(64, 32, batch_first=True, bidirectional=True)
        self.lstm2 = nn.LSTM(64, 32, batch_first=True, bidirectional=True)
        self.head = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.lstm1(self.embedding(x))
        _, (h, _) = self.lstm2(seq)
        logits: torch.Tensor = self.head(torch.cat([h[-2], h[-1]], dim=-1))
        return logits.squeeze(-1)


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    builder: str
    hand: Callable[[], nn.Module]
    hand_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    data: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]
    to_hand: Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]


def _mlp_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(64, 24)).astype("float32"), rng.integers(0, 5, 64).astype("int64")


def _cnn_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    return x, np.eye(10, dtype="float32")[rng.integers(0, 10, 64)]


def _lstm_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.integers(1, 2000, size=(32, 40)).astype("int64")
    return x, rng.integers(0, 2, 32).astype("float32")


CASE_TABLE: tuple[Case, ...] = (
    Case("MLP", "tier1_mlp_multiclass_keras3.py", "build_model", HandMLP,
         nn.functional.cross_entropy, _mlp_data,
         lambda x, y: (torch.as_tensor(x), torch.as_tensor(y))),
    Case("CNN 28x28x1", "tier1_cnn_mnist_like.py", "build_model", HandCNN,
         nn.functional.cross_entropy, _cnn_data,
         lambda x, y: (torch.as_tensor(x).permute(0, 3, 1, 2).contiguous(),
                       torch.as_tensor(y.argmax(-1)))),
    Case("LSTM text", "tier1_text_bilstm_imdb.py", "build_model", HandLSTM,
         nn.functional.binary_cross_entropy_with_logits, _lstm_data,
         lambda x, y: (torch.as_tensor(x), torch.as_tensor(y))),
)


# -- timing


def median_ms(steps: dict[str, Callable[[], Any]], warmup: int, n: int) -> dict[str, float]:
    """Round-robin over the variants so that load from other processes hits all of them alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(n):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def hand_step(case: Case, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    model = case.hand()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = case.to_hand(x, y)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = case.hand_loss(model(xt), yt)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()

    return step


def load_converted(case: Case, workdir: Path) -> Any:
    """The converted file of ``case``, loaded (definitions only)."""
    from agent.rules.convert import convert_source
    from agent.tools.module_loader import load_definitions

    source = (CASES / case.file).read_text(encoding="utf-8")
    conv = convert_source(source, case.file)
    if conv.error or not conv.changed:
        raise RuntimeError(f"conversion failed: {conv.error or 'nothing converted'}")
    path = workdir / case.file
    path.write_text(conv.source, encoding="utf-8")
    return load_definitions(path)


def converted_step(case: Case, x: np.ndarray, y: np.ndarray, workdir: Path) -> Callable[[], Any]:
    """Convert the case with the rules, load the module, step its own training_step."""
    module = getattr(load_converted(case, workdir), case.builder)()
    module.train()
    configured = module.configure_optimizers()
    opt = configured[0] if isinstance(configured, (list, tuple)) else configured
    if isinstance(opt, dict):
        opt = opt["optimizer"]
    batch = [torch.as_tensor(x), torch.as_tensor(y)]

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = module.training_step(batch, 0)
        loss.backward()
        opt.step()

    return step


class _HandModule:
    """The hand-written model in the smallest LightningModule: the loss, nothing logged."""

    @staticmethod
    def make(case: Case) -> Any:
        import pytorch_lightning as pl

        class Hand(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.model = case.hand()

            def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
                x, y = batch
                return case.hand_loss(self.model(x), y)

            def configure_optimizers(self) -> torch.optim.Optimizer:
                return torch.optim.Adam(self.parameters(), lr=1e-3)

        return Hand()


def fit_ms(make: Callable[[], Any], batch: tuple[torch.Tensor, torch.Tensor], steps: int) -> float:
    """ms per step of one ``trainer.fit`` epoch of ``steps`` copies of ``batch``."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no banner per fit
    x, y = batch
    data = TensorDataset(x.repeat(steps, *[1] * (x.dim() - 1)),
                         y.repeat(steps, *[1] * (y.dim() - 1)))
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", num_sanity_val_steps=0)
    start = time.perf_counter()
    trainer.fit(make(), DataLoader(TensorDataset(*data.tensors), batch_size=len(x)))
    return 1000 * (time.perf_counter() - start) / steps


def keras_step(case: Case, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    from agent.tools.module_loader import load_definitions

    model = getattr(load_definitions(CASES / case.file), case.builder)()
    return lambda: model.train_on_batch(x, y)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (all three)")
    parser.add_argument("--fits", type=int, default=3, help="trainer.fit runs per model (best)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import keras

    from agent.tf_shim import install

    keras.utils.set_random_seed(0)
    install()
    warnings.filterwarnings("ignore")  # Lightning: self.log() outside a Trainer
    rows = []
    fits: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASE_TABLE:
            x, y = case.data(np.random.default_rng(0))
            variants = {"hand": hand_step(case, x, y), "keras": keras_step(case, x, y)}
            note = ""
            try:
                variants["converted"] = converted_step(case, x, y, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - a failed conversion is a result too
                note = f"{type(exc).__name__}: {exc}"[:100]
            ms = median_ms(variants, args.warmup, args.steps)
            hand, kms, conv = ms["hand"], ms["keras"], ms.get("converted")
            rows.append((case.name, conv, hand, kms, note))
            if "converted" in variants and args.fits > 0:
                module = load_converted(case, Path(tmp))
                hand_batch = case.to_hand(x, y)
                conv_batch = (torch.as_tensor(x), torch.as_tensor(y))
                best_hand, best_conv = float("inf"), float("inf")
                for _ in range(args.fits):  # alternate, so that load hits both alike
                    best_hand = min(best_hand, fit_ms(partial(_HandModule.make, case),
                                                      hand_batch, args.steps))
                    best_conv = min(best_conv, fit_ms(getattr(module, case.builder),
                                                      conv_batch, args.steps))
                fits.append((case.name, best_conv, best_hand))
    print(f"training step, CPU, {args.threads} thread(s), median of {args.steps} after "
          f"{args.warmup} warm-up; torch {torch.__version__}, keras {keras.__version__}\n")
    print("| model | converted ms | hand-written ms | Keras (torch) ms | converted/hand | "
          "converted/Keras | target <= 1.1x |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    ok = True
    for name, conv, hand, kms, note in rows:
        r_hand = None if conv is None else conv / hand
        r_keras = None if conv is None else conv / kms
        met = r_hand is not None and r_hand <= TARGET
        ok &= met
        print(f"| {name} | {_fmt(conv)} | {hand:.2f} | {kms:.2f} | {_fmt(r_hand)} | "
              f"{_fmt(r_keras)} | {'yes' if met else 'no ' + note} |")
    if fits:
        print(f"\ntrainer.fit, one epoch of {args.steps} steps, ms per step, best of {args.fits}\n")
        print("| model | converted ms | hand-written ms | converted/hand |")
        print("| --- | ---: | ---: | ---: |")
        for name, conv_ms, hand_ms in fits:
            print(f"| {name} | {conv_ms:.2f} | {hand_ms:.2f} | {conv_ms / hand_ms:.2f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
