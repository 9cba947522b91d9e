"""A Keras ``train_step``/``test_step`` override in a converted class → Lightning hooks.

The Keras method stays as the user wrote it (its tape, ``apply_gradients`` and metric
objects are converted by tape_loop.py); Lightning runs it under manual optimization:

* ``training_step`` calls ``self.train_step(batch)`` and logs the dict it returns;
* ``self.optimizer`` is compile()'s optimizer (``configure_optimizers``) seen through
  ``KerasOptimizer``, so ``self.optimizer.apply_gradients(...)`` steps it;
* a Keras ``test_step`` is renamed ``keras_test_step`` (Lightning owns ``test_step``) and
  backs ``validation_step``/``test_step`` with Keras's ``val_`` prefix;
* ``self.compiled_loss(y, y_pred)`` is compile()'s loss averaged over the batch;
* a ``metrics`` property's trackers are reset at each epoch start, as ``fit`` does.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.training.methods import IND

STEPS = ("train_step", "test_step")


def _class(module: cst.Module, name: str) -> cst.ClassDef | None:
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == name:
            return stmt
    return None


def custom_steps(module: cst.Module, cls: str) -> set[str]:
    """Which Keras step methods (and a ``metrics`` property) the class defines."""
    node = _class(module, cls)
    if node is None or not isinstance(node.body, cst.IndentedBlock):
        return set()
    return {s.name.value for s in node.body.body if isinstance(s, cst.FunctionDef)
            and s.name.value in (*STEPS, "metrics")}


def prepare(module: cst.Module, cls: str) -> cst.Module:
    """Rename Keras ``test_step`` and drop the class rules' TODO on the step methods."""

    class Rename(cst.CSTTransformer):
        def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef
                           ) -> cst.ClassDef:
            if updated.name.value != cls or not isinstance(updated.body, cst.IndentedBlock):
                return updated
            body = []
            for s in updated.body.body:
                if isinstance(s, cst.FunctionDef) and s.name.value in STEPS:
                    lines = [ln for ln in s.leading_lines if ln.comment is None
                             or "TODO(k2l)" not in ln.comment.value]
                    s = s.with_changes(leading_lines=lines)
                    if s.name.value == "test_step":
                        s = s.with_changes(name=cst.Name("keras_test_step"))
                body.append(s)
            return updated.with_changes(body=updated.body.with_changes(body=body))

    return module.visit(Rename())


def _drop(methods: str, names: set[str]) -> str:
    parsed = cst.parse_module(methods) if methods.strip() else cst.Module([])
    kept = [s for s in parsed.body if not (isinstance(s, cst.FunctionDef)
                                           and s.name.value in names)]
    return parsed.with_changes(body=kept).code


def bridge(methods: str, steps: set[str], has_loss: bool, n_outputs: int
           ) -> tuple[list[str], str]:
    """(``__init__`` lines, class-body source) replacing the compile-generated steps."""
    drop = {"training_step", "on_train_epoch_end"}  # the Keras step logs its own values
    if "test_step" in steps or not has_loss:
        drop |= {"validation_step", "test_step", "on_validation_epoch_end", "on_test_epoch_end"}
    if not has_loss:
        drop |= {"compute_loss", "shared_step"}
    out = [_drop(methods, drop).rstrip("\n"), ""]
    w = out.append
    log = ("self.log_dict({key: torch.as_tensor(value, dtype=torch.float32).detach() for key, "
           "value in logs.items()}, on_step=False, on_epoch=True, prog_bar=True)")
    w("@property")
    w("def optimizer(self) -> KerasOptimizer:")
    w(f'{IND}"""compile()\'s optimizer, stepped by the Keras train_step\'s apply_gradients."""')
    w(f"{IND}return KerasOptimizer.wrap(self.optimizers())")
    w("")
    w("def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:")
    w(f'{IND}"""The Keras train_step, run by Lightning under manual optimization."""')
    w(f"{IND}logs = self.train_step(batch)")
    w(f"{IND}{log}")
    w("")
    if "test_step" in steps:
        for hook, prefix in (("validation_step", "val_"), ("test_step", "test_")):
            w(f"def {hook}(self, batch: list[torch.Tensor], batch_idx: int) -> None:")
            w(f'{IND}"""The Keras test_step; logged under Keras\'s {prefix!r} prefix."""')
            w(f"{IND}logs = {{\"{prefix}\" + key: value for key, value in "
              "self.keras_test_step(batch).items()}")
            w(f"{IND}{log}")
            w("")
    if has_loss and n_outputs == 1:
        w("def compiled_loss(self, y: torch.Tensor, y_pred: torch.Tensor, "
          "sample_weight: torch.Tensor | None = None, regularization_losses: object = None"
          ") -> torch.Tensor:")
        w(f'{IND}"""Keras compiled_loss: compile()\'s loss, averaged over the batch."""')
        w(f"{IND}per_sample = self.compute_loss(y_pred, y)[0]")
        w(f"{IND}if sample_weight is not None:")
        w(f"{IND * 2}per_sample = per_sample * sample_weight.reshape(per_sample.shape)")
        w(f"{IND}return per_sample.mean()")
        w("")
    if "metrics" in steps:
        w("def on_train_epoch_start(self) -> None:")
        w(f'{IND}"""Keras fit resets the metric trackers at each epoch start."""')
        w(f"{IND}for metric in self.metrics:")
        w(f"{IND * 2}metric.reset_state()")
        w("")
        w("def on_validation_epoch_start(self) -> None:")
        w(f"{IND}self.on_train_epoch_start()")
        w("")
    return ["self.automatic_optimization = False  # the Keras train_step applies gradients"], \
        "\n".join(out)
