"""The warm fast_dev_run worker: imports torch and Lightning once, then checks many files.

Importing torch and Lightning costs seconds; a small model's one-batch run costs
milliseconds. So one long-lived process answers requests, one JSON object per line:

* in:  ``{"id": 1, "op": "validate", "path": "/abs/file.py", "time_limit_s": 60,
  "memory_limit_mb": 4096}``; ``"op": "script"`` (same fields) runs the file as a program in
  a forked child (``agent/tools/script_run.py``); also ``{"op": "ping"}``, ``{"op": "shutdown"}``;
* out: ``{"id": 1, "status": "passed"|"failed"|"not_run", "message": "...",
  "diagnostics": [{"line":, "col":, "code":, "message":}], "seconds": 0.1}``.

The first line written is ``{"ready": true, ...}`` once the imports are done. The protocol
uses a private copy of stdout; file descriptor 1 is pointed at stderr so that ``print`` in
the code under test cannot corrupt it. The time limit is enforced here with ``SIGALRM`` and
``SIGXCPU`` (so a Python-level hang costs the worker nothing) and by the parent, which kills
the process when no answer comes (a hang inside C code). The memory limit is ``RLIMIT_AS``
counted on top of the warm worker's own address space, set for the duration of one request.
The worker itself always runs inside ``agent/sandbox.py`` (started by ``fast_dev_run.Worker``),
whose hard limits cap all of these.
"""

from __future__ import annotations

import ast
import inspect
import json
import logging
import os
import resource
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from agent.rules.layout.names import is_main_guard
from agent.tools.module_loader import load_definitions, unload
from agent.tools.script_run import run_script, third_party_missing

MIN_BATCH = 2  # BatchNorm refuses a training batch of one; Lightning's examples often use 1.
TRACEBACK_FRAMES = 4


class TimeLimitExceeded(BaseException):
    """Raised by SIGALRM; a BaseException so ``except Exception`` in user code lets it pass."""


@dataclass
class Outcome:
    status: str
    message: str
    diagnostics: list[dict[str, Any]] = field(default_factory=list)


class _StepFailed(Exception):
    """A candidate target failed; carries the diagnostic for the report."""

    def __init__(self, diagnostic: dict[str, Any]) -> None:
        super().__init__(diagnostic["message"])
        self.diagnostic = diagnostic


# ---------------------------------------------------------------- diagnostics


def _diagnostic(code: str, message: str, line: int = 0, col: int = 0) -> dict[str, Any]:
    return {"line": line, "col": col, "code": code, "message": message}


def _exception_diagnostic(exc: BaseException, path: Path, code: str) -> dict[str, Any]:
    """The exception, its last frames, and the deepest line of the converted file."""
    frames = traceback.extract_tb(exc.__traceback__)
    line = 0
    for frame in frames:
        if frame.filename == str(path) and frame.lineno is not None:
            line = frame.lineno
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc):
        code = "memory"
    tail = "".join(traceback.format_list(frames[-TRACEBACK_FRAMES:]))
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return _diagnostic(code, f"{head}\nlast frames:\n{tail}".rstrip(), line)


# ---------------------------------------------------------------- limits


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeLimitExceeded


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _limits(time_limit_s: float, memory_limit_mb: int) -> Iterator[None]:
    """SIGALRM after the time limit, SIGXCPU after as much CPU time; RLIMIT_AS at the current
    size plus the memory limit. Each within the hard caps the sandbox set at start."""
    saved = {which: resource.getrlimit(which) for which in (resource.RLIMIT_AS,
                                                             resource.RLIMIT_CPU)}
    changed: list[int] = []

    def lower(which: int, value: int) -> None:
        soft, hard = saved[which]
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        if soft == resource.RLIM_INFINITY or cap < soft:
            resource.setrlimit(which, (cap, hard))
            changed.append(which)

    if memory_limit_mb > 0:
        lower(resource.RLIMIT_AS, _address_space_bytes() + memory_limit_mb * 1024 * 1024)
    lower(resource.RLIMIT_CPU, int(_cpu_used() + max(time_limit_s, 0.01)) + 1)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGXCPU, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(time_limit_s, 0.01))
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            for which in changed:
                resource.setrlimit(which, saved[which])


# ---------------------------------------------------------------- batches and targets


def _lightning_classes(module: ModuleType) -> list[type[pl.LightningModule]]:
    found: list[type[pl.LightningModule]] = []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if obj.__module__ != module.__name__ or not issubclass(obj, pl.LightningModule):
            continue
        if not inspect.isabstract(obj):
            found.append(obj)
    return sorted(found, key=lambda c: c.__name__)


def _call_site_args(tree: ast.Module, name: str) -> tuple[list[Any], dict[str, Any]] | None:
    """Literal arguments of the first ``Name(...)`` call in the file (the script's own use)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if called != name or not (node.args or node.keywords):
            continue
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except ValueError:
            continue
        if any(k.arg is None for k in node.keywords):
            continue
        return args, kwargs
    return None


def _missing_arguments(cls: type) -> list[str]:
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in params if p.default is p.empty and p.kind not in kinds]


def _make_input(example: torch.Tensor) -> torch.Tensor:
    shape = list(example.shape)
    if len(shape) >= 2 and shape[0] < MIN_BATCH:
        shape[0] = MIN_BATCH
    if example.is_floating_point():
        return torch.randn(shape, dtype=example.dtype)
    # Token ids and masks: reuse the example's values so indices stay in range.
    return example.expand(shape).clone() if example.shape[0] == 1 else example.clone()


def _make_inputs(example: Any) -> tuple[torch.Tensor, ...] | None:
    if isinstance(example, torch.Tensor):
        return (_make_input(example),)
    if isinstance(example, (tuple, list)) and example:
        if all(isinstance(e, torch.Tensor) for e in example):
            return tuple(_make_input(e) for e in example)
    return None


def _tensor_targets(out: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Targets a loss is likely to accept for this output, most common first."""
    shape = tuple(out.shape)
    batch = shape[0] if shape else 1
    found: list[tuple[str, torch.Tensor]] = []
    if len(shape) == 2 and shape[1] > 1:
        probs = torch.nn.functional.one_hot(torch.randint(0, shape[1], (batch,)), shape[1])
        found.append(("one-hot float targets", probs.float()))
    elif len(shape) == 2:
        found.append(("0/1 float targets", torch.randint(0, 2, shape).float()))
    else:
        found.append(("float targets in [0, 1]", torch.rand(shape)))
    if len(shape) >= 2:
        found.append(("class indices (batch,)", torch.randint(0, shape[-1], (batch,))))
    if len(shape) == 2 and shape[1] > 1:
        # one value per sample read by a custom loss against several outputs (a mixture
        # density or contrastive loss): the last resort, after the usual shapes
        found.append(("one float target per sample (batch, 1)", torch.randn(batch, 1)))
    if len(shape) >= 3:
        # converted models keep Keras's layout: classes last, e.g. (batch, steps, classes)
        found.append(("class indices per position, classes last",
                      torch.randint(0, shape[-1], shape[:-1])))
        per_position = (batch, *shape[2:])
        found.append(("class indices per position", torch.randint(0, shape[1], per_position)))
    return found


def _targets(out: Any) -> list[tuple[str, Any]]:
    """Candidates for a tensor, or the i-th candidate of every element of a container."""
    if isinstance(out, torch.Tensor):
        return _tensor_targets(out)
    if isinstance(out, dict):
        per_key = {k: _targets(v) for k, v in out.items()}
        n = max((len(v) for v in per_key.values()), default=0)
        return [
            (f"per key #{i}", {k: v[min(i, len(v) - 1)][1] for k, v in per_key.items() if v})
            for i in range(n)
        ]
    if isinstance(out, (tuple, list)):
        per_item = [_targets(v) for v in out]
        n = max((len(v) for v in per_item), default=0)
        return [
            (f"per element #{i}", type(out)(v[min(i, len(v) - 1)][1] for v in per_item if v))
            for i in range(n)
        ]
    return []


def _batches(inputs: tuple[torch.Tensor, ...], target: Any) -> list[tuple[Any, ...]]:
    """The batches a step may unpack: flat first, as a converted script's
    ``TensorDataset(*inputs, *targets)`` yields them (``a, b, y = batch``), then nested
    (``(a, b), y = batch``) as hand-written steps take them; one input and one target: (x, y)."""
    targets = list(target) if isinstance(target, (tuple, list)) else [target]
    nested = ((inputs[0] if len(inputs) == 1 else inputs), target)
    if len(inputs) == 1 and len(targets) == 1:
        return [nested]
    return [(*inputs, *targets), nested]


def _loss_of(step_output: Any) -> torch.Tensor | None:
    if isinstance(step_output, torch.Tensor):
        return step_output
    if isinstance(step_output, dict) and isinstance(step_output.get("loss"), torch.Tensor):
        loss: torch.Tensor = step_output["loss"]
        return loss
    return None


def _finite(loss: torch.Tensor | None) -> bool:
    if loss is None:
        return True  # manual optimisation or a skipped step: nothing to judge
    return bool(torch.isfinite(loss.detach()).all())


# ---------------------------------------------------------------- one class


def _overrides(model: pl.LightningModule, hook: str) -> bool:
    return getattr(type(model), hook, None) is not getattr(pl.LightningModule, hook, None)


def _identity(sample: Any) -> Any:
    return sample


def _noop() -> None:
    """Stands in for ``prepare_data``, which downloads data."""


class _LossCapture(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[torch.Tensor | None] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        self.losses.append(_loss_of(outputs))


def _fit(model: pl.LightningModule, batch: Any, workdir: Path) -> list[torch.Tensor | None]:
    capture = _LossCapture()
    samples: list[Any] = [batch, batch]  # a list is a map-style dataset at runtime
    loader: DataLoader[Any] = DataLoader(samples, batch_size=None, collate_fn=_identity)  # type: ignore[arg-type]
    trainer = pl.Trainer(
        fast_dev_run=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[capture],
        default_root_dir=str(workdir),
    )
    model.prepare_data = _noop  # type: ignore[method-assign]
    val = loader if _overrides(model, "validation_step") else None
    trainer.fit(model, train_dataloaders=loader, val_dataloaders=val)
    return capture.losses


def _nan_diagnostic(what: str) -> dict[str, Any]:
    return _diagnostic("nan-loss", f"{what} returned a non-finite loss (NaN or inf)")


def _probe_direct(model: pl.LightningModule, batch: Any, path: Path) -> None:
    model.train()
    try:
        loss = _loss_of(model.training_step(batch, 0))
    except Exception as exc:
        raise _StepFailed(_exception_diagnostic(exc, path, "crash")) from exc
    if not _finite(loss):
        raise _StepFailed(_nan_diagnostic("training_step"))


def _probe_with_trainer(model: pl.LightningModule, batch: Any, path: Path) -> None:
    try:
        losses = _fit(model, batch, Path.cwd())
    except Exception as exc:
        raise _StepFailed(_exception_diagnostic(exc, path, "crash")) from exc
    if not all(_finite(loss) for loss in losses):
        raise _StepFailed(_nan_diagnostic("training_step under Trainer(fast_dev_run=1)"))


def _needs_trainer(diagnostic: dict[str, Any]) -> bool:
    return "not attached to a `Trainer`" in diagnostic["message"]


def _choose_target(
    model: pl.LightningModule,
    inputs: tuple[torch.Tensor, ...],
    candidates: list[tuple[str, Any]],
    path: Path,
) -> tuple[str, Any] | Outcome:
    """The first target (and batch layout) for which ``training_step`` runs and gives a
    finite loss: (its name, the batch)."""
    probe: Callable[[pl.LightningModule, Any, Path], None] = _probe_direct
    failures: list[tuple[str, dict[str, Any]]] = []
    for name, target in candidates:
        first: dict[str, Any] | None = None
        for batch in _batches(inputs, target):
            try:
                probe(model, batch, path)
                return name, batch
            except _StepFailed as failed:
                if probe is _probe_direct and _needs_trainer(failed.diagnostic):
                    probe = _probe_with_trainer  # the step uses self.trainer/self.optimizers()
                    try:
                        probe(model, batch, path)
                        return name, batch
                    except _StepFailed as again:
                        failed = again
                first = first or failed.diagnostic
        assert first is not None
        failures.append((name, first))
    nan = [d for _, d in failures if d["code"] == "nan-loss"]
    tried = "; ".join(f"{n}: {d['message'].splitlines()[0]}" for n, d in failures)
    first = nan[0] if nan else failures[0][1]
    return Outcome("failed", f"training_step failed for every target tried ({tried})", [first])


def _script_binds(tree: ast.Module, name: str) -> bool:
    """``name`` is bound by the script's statements under ``if __name__ == "__main__":``,
    which loading the definitions does not run."""
    for stmt in tree.body:
        if is_main_guard(stmt):
            return any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                       and n.id == name for n in ast.walk(stmt))
    return False


def check_class(cls: type[pl.LightningModule], tree: ast.Module, path: Path) -> Outcome:
    """Instantiate one LightningModule and run forward, training_step and fast_dev_run."""
    name = cls.__name__
    call = _call_site_args(tree, name)
    if call is None and (missing := _missing_arguments(cls)):
        return Outcome("not_run", f"{name}: constructor needs arguments {', '.join(missing)}")
    args, kwargs = call or ([], {})
    try:
        model = cls(*args, **kwargs)
    except NameError as exc:
        if exc.name is not None and _script_binds(tree, exc.name):
            return Outcome("not_run", f"{name}: the constructor reads {exc.name!r}, which the "
                           "script computes when it runs (the script check builds it)")
        return Outcome("failed", f"{name}: constructor raised", [
            _exception_diagnostic(exc, path, "crash")])
    except Exception as exc:
        return Outcome("failed", f"{name}: constructor raised", [
            _exception_diagnostic(exc, path, "crash")])
    inputs = _make_inputs(getattr(model, "example_input_array", None))
    if inputs is None:
        return Outcome("not_run", f"{name}: no tensor (or tuple of tensors) example_input_array")
    try:
        with torch.no_grad():
            output = model(*inputs)
    except Exception as exc:
        return Outcome("failed", f"{name}: forward failed on example_input_array", [
            _exception_diagnostic(exc, path, "crash")])
    if not _overrides(model, "training_step"):
        return Outcome("passed", f"{name}: forward only (no training_step)")
    candidates = _targets(output)
    if not candidates:
        return Outcome("not_run", f"{name}: cannot build targets for output {type(output)}")
    chosen = _choose_target(model, inputs, candidates, path)
    if isinstance(chosen, Outcome):
        chosen.message = f"{name}: {chosen.message}"
        return chosen
    target_name, batch = chosen
    try:
        losses = _fit(model, batch, Path.cwd())
    except Exception as exc:
        return Outcome("failed", f"{name}: Trainer(fast_dev_run=1) failed", [
            _exception_diagnostic(exc, path, "crash")])
    if not all(_finite(loss) for loss in losses):
        return Outcome("failed", f"{name}: non-finite loss under Trainer", [
            _nan_diagnostic("training_step under Trainer(fast_dev_run=1)")])
    return Outcome("passed", f"{name}: fast_dev_run passed ({target_name})")


# ---------------------------------------------------------------- one file


def _combine(outcomes: list[Outcome]) -> Outcome:
    message = "; ".join(o.message for o in outcomes)
    diagnostics = [d for o in outcomes for d in o.diagnostics]
    statuses = {o.status for o in outcomes}
    if "failed" in statuses:
        return Outcome("failed", message, diagnostics)
    return Outcome("passed" if "passed" in statuses else "not_run", message, diagnostics)


def check_file(path: Path) -> Outcome:
    """Load the file's definitions and check every LightningModule it defines."""
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        return Outcome("not_run", f"cannot read or parse {path.name}: {exc}")
    try:
        module = load_definitions(path)
    except NameError as exc:
        return Outcome("not_run", f"definitions need top-level code that is not run: {exc}")
    except ModuleNotFoundError as exc:
        missing = third_party_missing(exc)
        if missing is None:
            return Outcome("failed", "importing the module's definitions failed", [
                _exception_diagnostic(exc, path, "load-error")])
        return Outcome("not_run", f"skipped: needs the {missing!r} package, not installed "
                       "where the checks run")
    except Exception as exc:
        return Outcome("failed", "importing the module's definitions failed", [
            _exception_diagnostic(exc, path, "load-error")])
    try:
        classes = _lightning_classes(module)
        if not classes:
            return Outcome("not_run", "no LightningModule subclass defined in the file")
        return _combine([check_class(cls, tree, path) for cls in classes])
    finally:
        unload(module)


def _validate(request: dict[str, Any]) -> dict[str, Any]:
    path = Path(str(request["path"])).resolve()
    limit = float(request.get("time_limit_s", 60.0))
    started = time.perf_counter()
    try:
        with _limits(limit, int(request.get("memory_limit_mb", 0))):
            outcome = check_file(path)
    except TimeLimitExceeded as exc:
        outcome = Outcome("failed", f"time limit of {limit:g} s exceeded", [
            _exception_diagnostic(exc, path, "timeout")])
    except MemoryError as exc:
        outcome = Outcome("failed", "memory limit exceeded", [
            _exception_diagnostic(exc, path, "memory")])
    except Exception as exc:  # a bug here must not take the warm worker down
        outcome = Outcome("failed", "validation worker error", [
            _exception_diagnostic(exc, path, "worker-error")])
    if any(d["code"] == "memory" for d in outcome.diagnostics) and \
            "memory limit" not in outcome.message:
        outcome.message = f"memory limit exceeded: {outcome.message}"
    return {
        "status": outcome.status,
        "message": outcome.message,
        "diagnostics": outcome.diagnostics,
        "seconds": time.perf_counter() - started,
        "cpu_s": _cpu_used(),  # the parent restarts a worker that nears its RLIMIT_CPU
    }


# ---------------------------------------------------------------- protocol


def _quiet() -> None:
    """Lightning's info logs and warnings would flood the log and cost time per file."""
    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.set_num_threads(1)  # small models; the machine is shared with ruff and mypy


def _reset_globals() -> None:
    """Undo global torch state a previous file may have changed from a class body or step."""
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)


def main() -> int:
    # Private copies of the protocol streams; the code under test sees /dev/null as stdin
    # and stderr as stdout, so neither input() nor print() can touch the protocol.
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _quiet()

    def send(obj: dict[str, Any]) -> None:
        protocol.write(json.dumps(obj) + "\n")

    send({"ready": True, "torch": torch.__version__, "pytorch_lightning": getattr(pl, "__version__", "?")})
    for line in requests:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            send({"id": None, "error": f"bad request: {exc}"})
            continue
        op = request.get("op")
        if op == "shutdown":
            send({"id": request.get("id"), "ok": True})
            return 0
        if op == "ping":
            send({"id": request.get("id"), "ok": True})
        elif op == "validate":
            _reset_globals()
            send({"id": request.get("id"), **_validate(request)})
        elif op == "script":  # run in a forked child: the warm imports, none of the state
            send({"id": request.get("id"), **run_script(
                Path(str(request["path"])).resolve(), float(request.get("time_limit_s", 60.0)),
                int(request.get("memory_limit_mb", 0)))})
        else:
            send({"id": request.get("id"), "error": f"unknown op {op!r}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
