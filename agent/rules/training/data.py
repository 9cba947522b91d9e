"""Data pipelines and callback classes around ``fit``.

* ``tf.data.Dataset.from_tensor_slices(...).batch().prefetch()`` chains (a shuffle only
  when its buffer holds every sample) → ``DataLoader(TensorDataset(...), batch_size,
  shuffle)``; other chains become ``DataPipeline`` objects (utilities.py).
* ``keras.utils.Sequence`` / ``PyDataset`` subclasses → ``torch.utils.data.Dataset`` whose
  items are whole batches (fed with ``DataLoader(batch_size=None)``).
* ``keras.callbacks.Callback`` subclasses → ``pl.Callback`` with Lightning's hook names
  and signatures; ``logs`` become ``trainer.callback_metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.training.compile import bind
from agent.rules.values import code_of


@dataclass
class DataResult:
    code: str | None  # replacement expression, None when not converted
    todos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_SLICES = "tensorflow.data.Dataset.from_tensor_slices"


def _leaves(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(node, (cst.Tuple, cst.List)):
        return [leaf for e in node.elements for leaf in _leaves(e.value)]
    return [node]


def _full_shuffle(shuffle: cst.Call, source: cst.Call) -> bool:
    """``shuffle(len(x))`` / ``shuffle(x.shape[0])`` over ``from_tensor_slices(x)`` or
    ``((x, y))``: the buffer holds every sample, a DataLoader's full shuffle is the same."""
    if not shuffle.args or not source.args:
        return False
    first = _leaves(source.args[0].value)[0]
    size = code_of(shuffle.args[0].value)
    return size in (f"len({code_of(first)})", f"{code_of(first)}.shape[0]")


def tf_data_chain(node: cst.BaseExpression, imports: ImportTable) -> DataResult | None:
    """A converted expression for a from_tensor_slices chain; None if ``node`` is not one."""
    methods: list[tuple[str, cst.Call]] = []
    cur = node
    while isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute):
        qual = imports.resolve(cur.func)
        if qual == _SLICES:
            break
        methods.append((cur.func.attr.value, cur))
        cur = cur.func.value
    if not (isinstance(cur, cst.Call) and imports.resolve(cur.func) == _SLICES):
        return None
    out = DataResult(None)
    if any(name == "shuffle" and not _full_shuffle(call, cur) for name, call in methods):
        return out  # a buffered shuffle: utilities.py makes the chain a DataPipeline (exact)
    if not cur.args or isinstance(cur.args[0].value, cst.Dict):
        out.todos.append("from_tensor_slices of a dict: not converted")
        return out
    leaves = _leaves(cur.args[0].value)
    tensors = ", ".join(f"torch.as_tensor(np.asarray({code_of(leaf)}))" for leaf in leaves)
    batch, shuffle, drop_last = None, False, "False"
    batched = False
    for name, call in reversed(methods):
        if name == "shuffle":
            shuffle = True
            if batched:
                out.warnings.append("tf.data shuffle after batch shuffles batches; the "
                                    "DataLoader shuffles samples")
        elif name == "batch":
            args, _ = bind(call, ("batch_size", "drop_remainder"))
            batch = code_of(args["batch_size"]) if "batch_size" in args else None
            drop_last = code_of(args["drop_remainder"]) if "drop_remainder" in args else "False"
            batched = True
        elif name in ("prefetch", "cache"):
            continue
        else:
            out.todos.append(f"tf.data .{name}() not converted")
            return out
    if batch is None:
        out.todos.append("tf.data chain without .batch(): not converted")
        return out
    extra = f", drop_last={drop_last}" if drop_last != "False" else ""
    out.code = (f"DataLoader(TensorDataset({tensors}), batch_size={batch}, "
                f"shuffle={shuffle}{extra})")
    return out


_SEQUENCE_BASES = ("keras.utils.Sequence", "keras.utils.PyDataset")
_CALLBACK_BASE = "keras.callbacks.Callback"

# Keras hook -> (Lightning hook, Keras parameter bound to what, Lightning extra params)
HOOKS: dict[str, tuple[str, str, str]] = {
    "on_epoch_end": ("on_train_epoch_end", "trainer.current_epoch", ""),
    "on_epoch_begin": ("on_train_epoch_start", "trainer.current_epoch", ""),
    "on_train_begin": ("on_train_start", "", ""),
    "on_train_end": ("on_train_end", "", ""),
    "on_train_batch_end": ("on_train_batch_end", "batch_idx", ", outputs, batch_data, batch_idx"),
    "on_batch_end": ("on_train_batch_end", "batch_idx", ", outputs, batch_data, batch_idx"),
    "on_train_batch_begin": ("on_train_batch_start", "batch_idx", ", batch_data, batch_idx"),
    "on_batch_begin": ("on_train_batch_start", "batch_idx", ", batch_data, batch_idx"),
    "on_test_begin": ("on_test_start", "", ""),
    "on_test_end": ("on_test_end", "", ""),
    "on_predict_begin": ("on_predict_start", "", ""),
    "on_predict_end": ("on_predict_end", "", ""),
}


def sequence_inputs(call: cst.Call, params: tuple[str, ...], classes: set[str]
                    ) -> dict[str, str]:
    """{argument code: "dataset"} for ``x``/``validation_data`` arguments that construct a
    converted Sequence in place (``fit(Batches(x, y))``); names bound to one are in the
    scope's loaders already."""
    args, _ = bind(call, params)
    return {code_of(value): "dataset" for name in ("x", "validation_data")
            if isinstance(value := args.get(name), cst.Call) and code_of(value.func) in classes}


def class_kind(node: cst.ClassDef, imports: ImportTable) -> str | None:
    for base in node.bases:
        qual = imports.resolve(base.value)
        if qual in _SEQUENCE_BASES:
            return "sequence"
        if qual == _CALLBACK_BASE:
            return "callback"
    return None


class _SelfModel(cst.CSTTransformer):
    """``self.model.stop_training`` → ``trainer.should_stop``; ``self.model`` → pl_module."""

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.BaseExpression:
        code = code_of(updated)
        if code in ("self.model.stop_training", "pl_module.stop_training"):
            return cst.parse_expression("trainer.should_stop")
        if code == "self.model":
            return cst.Name("pl_module")
        return updated


class _SuperInit(cst.CSTTransformer):
    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if code_of(updated.func) == "super().__init__":
            return updated.with_changes(args=[])
        return updated


def convert_class(node: cst.ClassDef, kind: str, imports: ImportTable
                  ) -> tuple[cst.ClassDef, list[str], list[str]]:
    """(new class, warnings, todos) for a Sequence or Callback subclass."""
    warnings: list[str] = []
    todos: list[str] = []
    base = "Dataset" if kind == "sequence" else "pl.Callback"
    bases = [b.with_changes(value=cst.parse_expression(base))
             if imports.resolve(b.value) in (*_SEQUENCE_BASES, _CALLBACK_BASE) else b
             for b in node.bases]
    node = node.with_changes(bases=bases)
    if not isinstance(node.body, cst.IndentedBlock):
        return node, warnings, todos
    body = list(node.body.body)
    for k, stmt in enumerate(body):
        if not isinstance(stmt, cst.FunctionDef):
            continue
        name = stmt.name.value
        if kind == "sequence":
            if name == "__init__":
                body[k] = stmt.visit(_SuperInit())  # type: ignore[assignment]
            continue
        if name in HOOKS:
            body[k] = _hook(stmt, *HOOKS[name])
        elif name != "__init__":
            if "self.model" in code_of(stmt):
                todos.append(f"{node.name.value}.{name} uses self.model outside a hook")
    if kind == "sequence":
        warnings.append(f"{node.name.value}: keras.utils.Sequence -> torch Dataset of whole "
                        "batches (DataLoader(batch_size=None))")
    return node.with_changes(body=node.body.with_changes(body=body)), warnings, todos


def _hook(fn: cst.FunctionDef, new_name: str, first: str, extra: str) -> cst.FunctionDef:
    params = [p.name.value for p in fn.params.params]
    keras_params = params[1:]
    code = code_of(fn.body)
    prelude: list[str] = []
    if first and keras_params and keras_params[0] not in ("logs",):
        name = keras_params[0]
        if name in code:
            prelude.append(f"{name} = {first}")
    if "logs" in keras_params and "logs" in code:
        prelude.append("logs = {key: float(value) for key, value in "
                       "trainer.callback_metrics.items()}")
    sig = cst.parse_statement(
        f"def {new_name}(self, trainer: pl.Trainer, pl_module: pl.LightningModule{extra}) "
        "-> None:\n    pass\n")
    assert isinstance(sig, cst.FunctionDef)
    assert isinstance(fn.body, cst.IndentedBlock)
    stmts = [cst.parse_statement(line + "\n") for line in prelude]
    body = list(fn.body.body)
    # keep a docstring first
    if body and isinstance(body[0], cst.SimpleStatementLine) and isinstance(
            body[0].body[0], cst.Expr) and isinstance(body[0].body[0].value, cst.SimpleString):
        new_body = [body[0], *stmts, *body[1:]]
    else:
        new_body = [*stmts, *body]
    new = fn.with_changes(name=sig.name, params=sig.params, returns=sig.returns,
                          body=fn.body.with_changes(body=new_body))
    return new.visit(_SelfModel())  # type: ignore[return-value]


def is_gradient_tape(node: cst.With, imports: ImportTable) -> bool:
    for item in node.items:
        call = item.item
        if isinstance(call, cst.Call) and imports.resolve(call.func) == "tensorflow.GradientTape":
            return True
    return False
