"""Keras callbacks as data: each maps onto a Lightning callback, logger or LR scheduler.

A spec lists Keras's parameters and defaults (Keras 3.15 signatures) and a small builder
from argument code to the Lightning code; ``kind`` says where the result goes: into
``Trainer(callbacks=...)``, ``Trainer(logger=...)``, or (ReduceLROnPlateau) into the
model's ``configure_optimizers`` because torch schedulers live with the optimizer.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.rules.training.fit import torch_file_name


@dataclass
class Built:
    code: str  # Lightning expression; "" = drop the callback
    warnings: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)  # becomes TODO(k2l) + Unmapped


Args = dict[str, str]  # parameter -> argument code (defaults filled in)


@dataclass(frozen=True)
class CallbackSpec:
    keras: str
    kind: str  # "callback" | "logger" | "scheduler" | "drop"
    positional: tuple[str, ...]
    defaults: dict[str, Any]
    build: Callable[[Args], Built]
    examples: tuple[tuple[str, tuple[str, ...]], ...] = ()


def literal(code: str) -> Any:
    try:
        return ast.literal_eval(code)
    except (ValueError, SyntaxError):
        return None


def quoted(value: str) -> str:
    """A string literal in double quotes, as the rest of the generated code writes them."""
    text = repr(value)
    if text.startswith("'") and '"' not in value:
        return '"' + text[1:-1].replace("\\'", "'") + '"'
    return text


def mode_for(mode: str, monitor: str) -> str:
    """Keras ``mode="auto"``: maximise accuracy-like metrics, minimise the rest."""
    m = literal(mode)
    if m in ("min", "max"):
        return quoted(m)
    name = literal(monitor)
    if isinstance(name, str):
        maxed = any(k in name for k in ("acc", "auc", "precision", "recall"))
        return '"max"' if maxed else '"min"'
    return f'("max" if "acc" in {monitor} else "min")'


def _early_stopping(a: Args) -> Built:
    """Lightning's EarlyStopping; with ``restore_best_weights`` (no Lightning flag) the
    subclass copied from runtime/callbacks.py, which keeps and restores the best weights."""
    args = (f"monitor={a['monitor']}, min_delta={a['min_delta']}, patience={a['patience']}, "
            f"mode={mode_for(a['mode'], a['monitor'])}")
    restore = a["restore_best_weights"]
    b = Built(f"pl.callbacks.EarlyStopping({args})" if literal(restore) is False
              else f"KerasEarlyStopping({args}, restore_best_weights={restore})")
    if literal(a["baseline"]) is not None or literal(a["start_from_epoch"]) != 0:
        b.todo.append("EarlyStopping baseline/start_from_epoch not converted")
    return b


def _model_checkpoint(a: Args) -> Built:
    """``KerasModelCheckpoint`` (runtime/callbacks.py): the file the script names, written when
    Keras writes it; a literal Keras name gets the torch suffix, as ``model.save`` does."""
    weights = literal(a["save_weights_only"])
    path = literal(a["filepath"])
    filepath = a["filepath"] if not isinstance(path, str) else quoted(
        torch_file_name(path, ".pt" if weights is True else ".ckpt"))
    args = [filepath, f"monitor={a['monitor']}"]
    args += [f"{k}={a[k]}" for k in ("save_best_only", "save_weights_only")
             if literal(a[k]) is not False]
    if literal(a["save_best_only"]) is not False:
        args.append(f"mode={mode_for(a['mode'], a['monitor'])}")
    if literal(a["initial_value_threshold"]) is not None:
        args.append(f"initial_value_threshold={a['initial_value_threshold']}")
    b = Built(f"KerasModelCheckpoint({', '.join(args)})")
    if literal(a["save_freq"]) != "epoch":
        b.todo.append("ModelCheckpoint save_freq in batches: use every_n_train_steps")
    return b


def _reduce_lr(a: Args) -> Built:
    patience = literal(a["patience"])
    torch_patience = (str(max(patience - 1, 0)) if isinstance(patience, int)
                      else f"max({a['patience']} - 1, 0)")
    code = ("torch.optim.lr_scheduler.ReduceLROnPlateau({optimizer}, "
            f"mode={mode_for(a['mode'], a['monitor'])}, factor={a['factor']}, "
            f"patience={torch_patience}, threshold={a['min_delta']}, threshold_mode=\"abs\", "
            f"cooldown={a['cooldown']}, min_lr={a['min_lr']})")
    return Built(code, warnings=["ReduceLROnPlateau moved into configure_optimizers (Keras "
                                 "reduces after `patience` bad epochs, torch after "
                                 "`patience` + 1: patience written as Keras's - 1)"])


def _csv_logger(a: Args) -> Built:
    """``KerasCSVLogger`` (runtime/callbacks.py): Keras's one file, rows and columns."""
    args = [a["filename"]] + [f"{k}={a[k]}" for k, default in (("separator", ","),
                                                                ("append", False))
                              if literal(a[k]) != default]
    return Built(f"KerasCSVLogger({', '.join(args)})")


def _tensorboard(a: Args) -> Built:
    available = any(importlib.util.find_spec(m) is not None
                    for m in ("tensorboard", "tensorboardX"))
    if not available:
        return Built("", warnings=["TensorBoard callback dropped: TensorBoardLogger needs the "
                                   "`tensorboard` package, not installed here"],
                     todo=[f"TensorBoard(log_dir={a['log_dir']}) -> pl.loggers."
                           "TensorBoardLogger once tensorboard is installed"])
    return Built(f"pl.loggers.TensorBoardLogger(save_dir={a['log_dir']})")


def _lr_scheduler(a: Args) -> Built:
    fn = a["schedule"] if a["schedule"].isidentifier() else f"({a['schedule']})"
    nargs = literal(a.get("_schedule_nargs", "2"))
    call = (f"{fn}(trainer.current_epoch, group[\"lr\"])" if nargs != 1
            else f"{fn}(trainer.current_epoch)")
    return Built("pl.callbacks.LambdaCallback(on_train_epoch_start=lambda trainer, _: "
                 f"[group.update(lr={call}) for group in trainer.optimizers[0].param_groups])")


def _terminate_on_nan(a: Args) -> Built:
    return Built("pl.callbacks.LambdaCallback(on_train_batch_end=lambda trainer, _m, out, _b, "
                 "_i: setattr(trainer, \"should_stop\", trainer.should_stop or "
                 "not bool(torch.isfinite(out[\"loss\"]))))")


_LOGS = "{k: float(v) for k, v in trainer.callback_metrics.items()}"

# Keras LambdaCallback hook -> (Lightning LambdaCallback hook, its lambda's parameters,
# the arguments Keras passes the user's function)
_LAMBDA_HOOKS: dict[str, tuple[str, str, str]] = {
    "on_epoch_begin": ("on_train_epoch_start", "trainer, _", "trainer.current_epoch, {}"),
    "on_epoch_end": ("on_train_epoch_end", "trainer, _", f"trainer.current_epoch, {_LOGS}"),
    "on_train_begin": ("on_train_start", "trainer, _", "{}"),
    "on_train_end": ("on_train_end", "trainer, _", _LOGS),
    "on_train_batch_begin": ("on_train_batch_start", "trainer, _m, _b, i", "i, {}"),
    "on_train_batch_end": ("on_train_batch_end", "trainer, _m, out, _b, i",
                           'i, {"loss": float(out["loss"])}'),
}
_LAMBDA_ALIASES = {"on_batch_begin": "on_train_batch_begin",
                   "on_batch_end": "on_train_batch_end"}


def _lambda_callback(a: Args) -> Built:
    """Keras calls the hooks with (epoch, logs), (batch, logs) or (logs): the same arguments
    are read from the Trainer (logs = the logged metrics as floats)."""
    hooks: dict[str, str] = {}
    warnings = []
    for name, fn in a.items():
        keras_hook = _LAMBDA_ALIASES.get(name, name)
        if fn == "None" or keras_hook not in _LAMBDA_HOOKS:
            continue
        hook, params, call_args = _LAMBDA_HOOKS[keras_hook]
        call = fn if fn.isidentifier() else f"({fn})"
        hooks[hook] = f"{hook}=lambda {params}: {call}({call_args})"
        if "batch" in hook:
            warnings.append("LambdaCallback batch hooks get this batch's loss as logs "
                            "(Keras: the epoch's running means of loss and metrics)")
    if not hooks:
        return Built("")
    return Built(f"pl.callbacks.LambdaCallback({', '.join(hooks.values())})",
                 warnings=warnings)


def _history(a: Args) -> Built:
    return Built("KerasHistory()")


def _drop(a: Args) -> Built:
    return Built("")


CALLBACKS: tuple[CallbackSpec, ...] = (
    CallbackSpec("EarlyStopping", "callback",
                 ("monitor", "min_delta", "patience", "verbose", "mode", "baseline",
                  "restore_best_weights", "start_from_epoch"),
                 {"monitor": '"val_loss"', "min_delta": "0", "patience": "0", "verbose": "0",
                  "mode": '"auto"', "baseline": "None", "restore_best_weights": "False",
                  "start_from_epoch": "0"},
                 _early_stopping,
                 (("keras.callbacks.EarlyStopping(patience=3)",
                   ('pl.callbacks.EarlyStopping(monitor="val_loss"', "patience=3",
                    'mode="min"')),
                  ('keras.callbacks.EarlyStopping(monitor="val_accuracy")',
                   ('mode="max"', "patience=0")),
                  ("keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)",
                   ('KerasEarlyStopping(monitor="val_loss"', "restore_best_weights=True")))),
    CallbackSpec("ModelCheckpoint", "callback",
                 ("filepath", "monitor", "verbose", "save_best_only", "save_weights_only",
                  "mode", "save_freq", "initial_value_threshold"),
                 {"filepath": None, "monitor": '"val_loss"', "verbose": "0",
                  "save_best_only": "False", "save_weights_only": "False", "mode": '"auto"',
                  "save_freq": '"epoch"', "initial_value_threshold": "None"},
                 _model_checkpoint,
                 (('keras.callbacks.ModelCheckpoint("ckpt/best.keras", save_best_only=True)',
                   ('KerasModelCheckpoint("ckpt/best.ckpt", monitor="val_loss", '
                    'save_best_only=True, mode="min")',)),
                  ('keras.callbacks.ModelCheckpoint("w.weights.h5", save_weights_only=True)',
                   ('KerasModelCheckpoint("w.pt", monitor="val_loss", save_weights_only=True)',)),
                  ('keras.callbacks.ModelCheckpoint(os.path.join(out, "best.keras"))',
                   ('KerasModelCheckpoint(os.path.join(out, "best.keras"), monitor="val_loss")',)),
                  ('keras.callbacks.ModelCheckpoint(path, monitor="val_acc", save_best_only=1)',
                   ('KerasModelCheckpoint(path, monitor="val_acc", save_best_only=1, '
                    'mode="max")',)))),
    CallbackSpec("ReduceLROnPlateau", "scheduler",
                 ("monitor", "factor", "patience", "verbose", "mode", "min_delta", "cooldown",
                  "min_lr"),
                 {"monitor": '"val_loss"', "factor": "0.1", "patience": "10", "verbose": "0",
                  "mode": '"auto"', "min_delta": "0.0001", "cooldown": "0", "min_lr": "0.0"},
                 _reduce_lr,
                 (("keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2)",
                   ("ReduceLROnPlateau(optimizer", "factor=0.5", "patience=1",
                    'threshold_mode="abs"', '"monitor": "val_loss"')),)),
    CallbackSpec("CSVLogger", "callback", ("filename", "separator", "append"),
                 {"filename": None, "separator": '","', "append": "False"}, _csv_logger,
                 (('keras.callbacks.CSVLogger("logs/train.csv")',
                   ('KerasCSVLogger("logs/train.csv")',)),
                  ('keras.callbacks.CSVLogger(name, separator=";", append=True)',
                   ('KerasCSVLogger(name, separator=";", append=True)',)))),
    CallbackSpec("TensorBoard", "logger", ("log_dir",), {"log_dir": '"logs"'}, _tensorboard),
    CallbackSpec("LearningRateScheduler", "callback", ("schedule", "verbose"),
                 {"schedule": None, "verbose": "0"}, _lr_scheduler,
                 (("keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9)",
                   ("pl.callbacks.LambdaCallback(on_train_epoch_start=",
                    "trainer.current_epoch")),)),
    CallbackSpec("LambdaCallback", "callback",
                 (*_LAMBDA_HOOKS, *_LAMBDA_ALIASES),
                 {name: "None" for name in (*_LAMBDA_HOOKS, *_LAMBDA_ALIASES)},
                 _lambda_callback,
                 (("keras.callbacks.LambdaCallback(on_epoch_end=report)",
                   ("pl.callbacks.LambdaCallback(on_train_epoch_end=lambda trainer, _: "
                    "report(trainer.current_epoch, {k: float(v) for k, v in",)),
                  ("keras.callbacks.LambdaCallback(on_train_end=lambda logs: log.close())",
                   ("on_train_end=lambda trainer, _: (lambda logs: log.close())({k:",)))),
    CallbackSpec("TerminateOnNaN", "callback", (), {}, _terminate_on_nan,
                 (("keras.callbacks.TerminateOnNaN()", ("torch.isfinite(",)),)),
    CallbackSpec("ProgbarLogger", "drop", ("count_mode",), {}, _drop),
    # an explicit History read after fit: the runtime recorder of the logged epoch values
    CallbackSpec("History", "callback", (), {}, _history,
                 (("keras.callbacks.History()", ("KerasHistory()",)),)),
)

# Parameters any of them may take that only change printing.
IGNORED = ("verbose",)

_BY_NAME: dict[str, CallbackSpec] = {s.keras: s for s in CALLBACKS}


def lookup_callback(qualname: str) -> CallbackSpec | None:
    if not qualname.startswith("keras.callbacks."):
        return None
    return _BY_NAME.get(qualname.rsplit(".", 1)[-1])
