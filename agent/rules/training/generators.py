"""Python generators as training data: ``fit_generator``/``evaluate_generator`` (Keras 2)
become the Keras 3 ``fit``/``evaluate`` forms, and a generator passed as ``x`` or
``validation_data`` is marked so ``fit.py`` feeds it through ``KerasBatches`` (runtime/
batches.py: one generator shared by every epoch, as Keras reads it).
"""

from __future__ import annotations

import libcst as cst

from agent.rules.training.compile import bind
from agent.rules.values import code_of

# Keras 2 signatures (positional order) and the Keras 3 method that replaced each
LEGACY: dict[str, tuple[str, tuple[str, ...]]] = {
    "fit_generator": ("fit", (
        "x", "steps_per_epoch", "epochs", "verbose", "callbacks", "validation_data",
        "validation_steps", "validation_freq", "class_weight", "max_queue_size", "workers",
        "use_multiprocessing", "shuffle", "initial_epoch")),
    "evaluate_generator": ("evaluate", (
        "x", "steps", "callbacks", "max_queue_size", "workers", "use_multiprocessing",
        "verbose")),
}
# worker/queue settings of the Keras 2 generator methods: DataLoader's job, nothing to keep
DROPPED = ("max_queue_size", "workers", "use_multiprocessing")


def keras3_call(call: cst.Call, method: str) -> tuple[cst.Call, str] | None:
    """``model.fit_generator(gen, 100, 5)`` -> ``model.fit(x=gen, steps_per_epoch=100,
    epochs=5)``; None when the arguments cannot be read (``*args``)."""
    new_method, params = LEGACY[method]
    args, ok = bind(call, params)
    if not ok:
        return None
    if "generator" in args:  # the Keras 2 keyword
        args["x"] = args.pop("generator")
    kept = [cst.Arg(value, keyword=cst.Name(name)) for name, value in args.items()
            if name not in DROPPED]
    return call.with_changes(args=kept), new_method


def legacy_inputs(call: cst.Call, loaders: dict[str, str]) -> dict[str, str]:
    """{x code: "generator"} for the ``x`` of a call made from ``fit_generator`` /
    ``evaluate_generator``, which take only generators (or Sequences, already known as
    loaders): a method's generator (``gen.next_train()``) is no array either."""
    args, _ = bind(call, ("x",))
    x = args.get("x")
    if x is None or code_of(x) in loaders or isinstance(x, (cst.List, cst.Tuple, cst.Dict)):
        return {}
    if isinstance(x, cst.Name) and x.value in loaders:
        return {}
    return {code_of(x): "generator"}


def generator_functions(module: cst.Module) -> set[str]:
    """Module-level functions that ``yield``: calling one makes a generator."""
    out: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and _yields(stmt):
            out.add(stmt.name.value)
    return out


def _yields(fn: cst.FunctionDef) -> bool:
    class _Find(cst.CSTVisitor):
        found = False

        def visit_Yield(self, node: cst.Yield) -> bool:
            self.found = True
            return False

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is fn  # a nested def's yield is its own

    finder = _Find()
    fn.visit(finder)
    return finder.found


def generator_inputs(call: cst.Call, params: tuple[str, ...], functions: set[str],
                     assigns: dict[str, cst.BaseExpression]) -> dict[str, str]:
    """{argument code: "generator"} for ``x``/``validation_data`` arguments that are a call
    of a generator function, or a name bound to one."""
    args, _ = bind(call, params)
    out: dict[str, str] = {}
    for name in ("x", "validation_data"):
        value = args.get(name)
        source = assigns.get(value.value) if isinstance(value, cst.Name) else value
        if isinstance(source, cst.Call) and isinstance(source.func, cst.Name) \
                and source.func.value in functions and value is not None:
            out[code_of(value)] = "generator"
    return out
