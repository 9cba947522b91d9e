"""Training-step speed of converted models vs hand-written PyTorch and Keras on torch (issue 5).

Users leave Keras partly for speed, so a converted model must not be slower than the same
model written by hand. Three benchmark cases (an MLP, a CNN on 28x28x1, an Embedding+BiLSTM
text model) are converted with the rules and trained on a fixed CPU batch:

* ``trainer.fit`` (what a user runs, and what the target is judged on): the converted module
  as generated (its step, its Keras epoch means) against the hand-written model in the
  smallest LightningModule (its step: the loss alone, nothing logged). Both sides get the same
  batch repeated ``--steps`` times per epoch through the same ``TensorDataset`` and
  ``DataLoader`` (no shuffle, no workers) and the same Trainer flags; only the layout differs
  where Keras's does (the CNN's NHWC input and one-hot targets, which the converted step
  reads as Keras did). The median time from one batch's start to the next one's (the step,
  Lightning's own work around it, the batch fetch), the first epoch (warm-up) and the
  Trainer's setup left out; apart, the median extra time across an epoch boundary (computing
  and logging the epoch means). ``--fits`` paired runs (hand and converted back to back, the
  order alternating): the target is judged on the median of the runs' ratios, and the range
  says how much the machine's load moved them.
* one bare training step (forward, loss, backward, optimizer step), median of N after warm-up:
  the generated ``training_step`` called by hand + its own optimizer against the same model
  written directly in PyTorch (logits + the fused loss a PyTorch user would write, inputs
  already in PyTorch's layout), alternating; Keras's ``model.train_on_batch`` on Keras 3's
  torch backend, timed apart (its 10-200 ms steps would evict the small models' caches).
  Outside a Trainer ``self.log`` returns at once, so this table misses the logging.

Times are this process's CPU time (``time.process_time``, one torch thread), not wall time,
so that other jobs on a shared machine slow the measurement less. Target: converted <= 1.1x
hand-written inside ``trainer.fit``.

    KERAS_BACKEND=torch python eval/bench_speed.py [--steps 50] [--warmup 5] [--threads 1]
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
from itertools import pairwise
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
            start = time.process_time()
            step()
            times[name].append(time.process_time() - start)
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


@dataclass
class FitTimes:
    step_ms: float  # median time from one batch's start to the next one's, within epochs
    epoch_end_ms: float  # median extra time across an epoch boundary (the epoch-end hooks)


def fit_ms(make: Callable[[], Any], batch: tuple[torch.Tensor, torch.Tensor], steps: int,
           epochs: int) -> FitTimes:
    """CPU times of ``trainer.fit`` over ``steps`` copies of ``batch`` per epoch, the first
    epoch (warm-up) left out. Medians, so that a stall caused by another process counts
    little."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.starts: list[tuple[int, float]] = []

        def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 batch: Any, batch_idx: int) -> None:
            self.starts.append((trainer.current_epoch, time.process_time()))

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no banner per fit
    x, y = batch
    data = TensorDataset(x.repeat(steps, *[1] * (x.dim() - 1)),
                         y.repeat(steps, *[1] * (y.dim() - 1)))
    clock = Clock()
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", num_sanity_val_steps=0, callbacks=[clock])
    trainer.fit(make(), DataLoader(data, batch_size=len(x)))
    pairs = list(pairwise(clock.starts))
    within = [t1 - t0 for (e0, t0), (e1, t1) in pairs if e0 == e1 >= 1]
    across = [t1 - t0 for (e0, t0), (e1, t1) in pairs if e1 == e0 + 1 >= 2]
    step = statistics.median(within)
    return FitTimes(1000 * step, 1000 * max(0.0, statistics.median(across) - step))


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
    parser.add_argument("--fits", type=int, default=5,
                        help="paired trainer.fit runs per model (median ratio)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per trainer.fit (>= 3)")
    parser.add_argument("--keras-steps", type=int, default=10, help="Keras steps timed")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import keras

    from agent.tf_shim import install

    keras.utils.set_random_seed(0)
    install()
    warnings.filterwarnings("ignore")  # Lightning: self.log() outside a Trainer
    rows = []
    fits: list[tuple[str, list[tuple[FitTimes, FitTimes]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASE_TABLE:
            x, y = case.data(np.random.default_rng(0))
            variants = {"hand": hand_step(case, x, y)}
            note = ""
            try:
                variants["converted"] = converted_step(case, x, y, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - a failed conversion is a result too
                note = f"{type(exc).__name__}: {exc}"[:100]
            ms = median_ms(variants, args.warmup, args.steps)
            kms = median_ms({"keras": keras_step(case, x, y)}, 2, args.keras_steps)["keras"]
            rows.append((case.name, ms.get("converted"), ms["hand"], kms, note))
            if "converted" in variants and args.fits > 0:
                module = load_converted(case, Path(tmp))
                hand_batch = case.to_hand(x, y)
                conv_batch = (torch.as_tensor(x), torch.as_tensor(y))
                runs: list[tuple[FitTimes, FitTimes]] = []
                for run in range(args.fits):  # paired runs, the order alternating
                    hand = partial(fit_ms, partial(_HandModule.make, case), hand_batch,
                                   args.steps, args.epochs)
                    conv = partial(fit_ms, getattr(module, case.builder), conv_batch,
                                   args.steps, args.epochs)
                    if run % 2:
                        conv_t = conv()
                        runs.append((conv_t, hand()))
                    else:
                        hand_t = hand()
                        runs.append((conv(), hand_t))
                fits.append((case.name, runs))
    print(f"CPU ms, {args.threads} thread(s); torch {torch.__version__}, "
          f"keras {keras.__version__}\n")
    ok = True
    if fits:
        print(f"trainer.fit, {args.epochs} epochs of {args.steps} steps, the first left out; "
              f"median ms per step; {args.fits} paired runs: the median of the runs' "
              "converted/hand ratios, and their range\n")
        print("| model | converted ms | hand-written ms | converted/hand | range | "
              "target <= 1.1x | epoch end ms, converted / hand |")
        print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
        for name, runs in fits:
            ratios = [c.step_ms / h.step_ms for c, h in runs]
            ratio = statistics.median(ratios)
            ok &= ratio <= TARGET
            conv_ms = statistics.median(c.step_ms for c, _ in runs)
            hand_ms = statistics.median(h.step_ms for _, h in runs)
            ends = [statistics.median(t[k].epoch_end_ms for t in runs) for k in (0, 1)]
            print(f"| {name} | {conv_ms:.2f} | {hand_ms:.2f} | {ratio:.2f} | "
                  f"{min(ratios):.2f} to {max(ratios):.2f} | "
                  f"{'yes' if ratio <= TARGET else 'no'} | {ends[0]:.1f} / {ends[1]:.1f} |")
    print(f"\none training step outside a Trainer, median of {args.steps} after {args.warmup} "
          f"warm-up (Keras: of {args.keras_steps})\n")
    print("| model | converted ms | hand-written ms | Keras (torch) ms | converted/hand | "
          "converted/Keras |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, conv, hand, kms, note in rows:
        r_hand = None if conv is None else conv / hand
        r_keras = None if conv is None else conv / kms
        ok &= conv is not None
        print(f"| {name} | {_fmt(conv)} | {hand:.2f} | {kms:.2f} | {_fmt(r_hand)} | "
              f"{_fmt(r_keras)} |" + (f" {note}" if note else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
