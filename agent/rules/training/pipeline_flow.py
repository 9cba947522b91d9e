"""Where ``tf.data`` pipelines flow between statements and functions.

A chain that ``data.tf_data_chain`` turns into a ``DataLoader`` must not be continued by a
later statement (``ds = ...batch(32)`` then ``ds = ds.prefetch(AUTO)``: a DataLoader has no
``prefetch``), nor be a preprocessing layer's ``adapt`` data (strings, which a
``TensorDataset`` cannot hold): such a name keeps the chain a ``DataPipeline``. A top-level function that
returns pipelines (``def make_datasets(): ...; return train, test``) hands their kinds to
the names its call binds (``train_ds, test_ds = make_datasets()``) and to ``fit``'s
arguments (``model.fit(make_dataset())``), so fit feeds them as pipelines, not as arrays.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.training.compile import bind
from agent.rules.training.data import tf_data_chain
from agent.rules.training.utilities import PIPELINE_LOADERS
from agent.rules.values import code_of

# tf.data.Dataset methods that continue a pipeline (a DataLoader has none of them)
DATASET_METHODS = frozenset((
    "map", "filter", "batch", "padded_batch", "unbatch", "shuffle", "repeat", "take", "skip",
    "prefetch", "cache", "enumerate", "concatenate", "apply", "flat_map", "interleave",
    "with_options", "rebatch", "as_numpy_iterator", "cardinality", "window",
))

Kinds = tuple[str | None, ...]  # per returned value: "loader" | "pipeline" | None


class _Continued(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.attr.value in DATASET_METHODS:
            self.names.add(func.value.value)
        if isinstance(func, cst.Attribute) and func.attr.value == "adapt":  # string batches
            self.names.update(a.value.value for a in node.args if isinstance(a.value, cst.Name))


def continued(module: cst.Module) -> set[str]:
    """Names some statement calls a Dataset method on (``ds.prefetch(...)``): a chain bound
    to one stays a DataPipeline."""
    finder = _Continued()
    module.visit(finder)
    return finder.names


def is_pipeline(value: cst.BaseExpression, imports: ImportTable,
                pipelines: set[str]) -> bool:
    """A tf.data expression (utilities.py makes it a DataPipeline): a chain on
    ``tf.data.*``, a directory/array loader, or a method chain on a name in ``pipelines``."""
    cur = value
    if isinstance(cur, cst.Call) and imports.resolve(cur.func) in PIPELINE_LOADERS:
        return True
    while isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute):
        qual = imports.resolve(cur.func) or ""
        if qual.startswith("tensorflow.data.") or qual in PIPELINE_LOADERS:
            return True
        cur = cur.func.value
    return isinstance(cur, cst.Name) and cur is not value and cur.value in pipelines


def kind_of(value: cst.BaseExpression, imports: ImportTable, local: dict[str, str],
            keep_chain: bool, returns: dict[str, Kinds] | None = None) -> str | None:
    """"loader" (a chain converted to a DataLoader), "pipeline" or None; ``keep_chain``:
    the target is continued later, so a chain stays a pipeline; ``returns``: the kinds the
    script's functions return (``ds = load_dataset(files)`` inside another helper)."""
    if isinstance(value, cst.Name):
        return local.get(value.value)
    if isinstance(value, cst.IfExp):  # ds.map(f) if augment else ds: one kind either way
        kinds = {kind_of(v, imports, local, keep_chain, returns)
                 for v in (value.body, value.orelse)}
        return kinds.pop() if len(kinds) == 1 else None
    if returns and isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
        made = returns.get(value.func.value)
        if made is not None and len(made) == 1 and made[0] is not None:
            return "pipeline"  # a helper's result, continued or not: never a DataLoader here
    chain = tf_data_chain(value, imports)
    if chain is not None and chain.code is not None and not keep_chain:
        return "loader"
    pipes = {n for n, k in local.items() if k == "pipeline"}
    return "pipeline" if chain is not None or is_pipeline(value, imports, pipes) else None


def simple_statements(block: cst.BaseSuite) -> list[cst.SimpleStatementLine]:
    """The simple statements of ``block`` in order, nested blocks included, not nested defs."""
    out: list[cst.SimpleStatementLine] = []
    if not isinstance(block, cst.IndentedBlock):
        return out
    for stmt in block.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            out.append(stmt)
        elif isinstance(stmt, (cst.If, cst.For, cst.While, cst.With, cst.Try)):
            out += simple_statements(stmt.body)
    return out


def returned_kinds(module: cst.Module, imports: ImportTable, kept: set[str]) -> dict[str, Kinds]:
    """{function: kinds of what it returns} for top-level functions returning pipelines
    (every ``return`` the same shape); ``kept``: names whose chains stay pipelines."""
    out: dict[str, Kinds] = {}
    for fn in module.body:  # in order: a helper calls the ones defined above it
        if not isinstance(fn, cst.FunctionDef):
            continue
        local: dict[str, str] = {}
        found: list[Kinds] = []
        for line in simple_statements(fn.body):
            for small in line.body:
                if isinstance(small, cst.Assign) and len(small.targets) == 1 \
                        and isinstance(small.targets[0].target, cst.Name):
                    name = small.targets[0].target.value
                    kind = kind_of(small.value, imports, local, name in kept, out)
                    if kind is None:
                        local.pop(name, None)
                    else:
                        local[name] = kind
                elif isinstance(small, cst.Return) and small.value is not None:
                    value = small.value
                    parts = [e.value for e in value.elements] \
                        if isinstance(value, cst.Tuple) else [value]
                    found.append(tuple(kind_of(p, imports, local, False, out) for p in parts))
        if found and all(k == found[0] for k in found) and any(found[0]):
            out[fn.name.value] = found[0]
    return out


def bound_kinds(target: cst.BaseAssignTargetExpression, value: cst.BaseExpression,
                returns: dict[str, Kinds]) -> dict[str, str]:
    """{name: kind} for ``a, b = make_datasets()`` / ``ds = make_dataset()``, and
    ``a, b = (make_dataset(x) for x in [xa, xb])``: one call per name."""
    if isinstance(value, (cst.GeneratorExp, cst.ListComp)) and isinstance(value.elt, cst.Call) \
            and isinstance(value.elt.func, cst.Name) and isinstance(target, (cst.Tuple, cst.List)):
        kinds = returns.get(value.elt.func.value)
        if kinds is None or len(kinds) != 1 or kinds[0] is None:
            return {}
        return {e.value.value: kinds[0] for e in target.elements if isinstance(e.value, cst.Name)}
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Name)):
        return {}
    kinds = returns.get(value.func.value)
    if kinds is None:
        return {}
    if isinstance(target, cst.Name) and len(kinds) == 1 and kinds[0] is not None:
        return {target.value: kinds[0]}
    if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == len(kinds):
        return {e.value.value: k for e, k in zip(target.elements, kinds, strict=True)
                if isinstance(e.value, cst.Name) and k is not None}
    return {}


def pipeline_inputs(call: cst.Call, params: tuple[str, ...], returns: dict[str, Kinds]
                    ) -> dict[str, str]:
    """{argument code: kind} for ``x``/``validation_data`` arguments that call a function
    returning one pipeline (``model.fit(make_dataset())``)."""
    args, _ = bind(call, params)
    out: dict[str, str] = {}
    for name in ("x", "validation_data"):
        value = args.get(name)
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
            kinds = returns.get(value.func.value)
            if kinds is not None and len(kinds) == 1 and kinds[0] is not None:
                out[code_of(value)] = kinds[0]
    return out
