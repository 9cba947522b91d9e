"""Resolve names in a module to canonical Keras qualified names.

A light alias table instead of libcst's ScopeProvider: module-level (and function-level)
imports are read once, then ``tf.keras.layers.Dense``, ``layers.Dense`` and ``Dense`` all
resolve to ``keras.layers.Dense``. Shadowing of an imported name by a local variable is rare
in model code and not tracked; it costs a fraction of a full scope analysis (see the speed
benchmark in eval/bench_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

# Longest prefix first: each maps a real module path onto the canonical ``keras.`` namespace.
_CANONICAL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tf_keras.", "keras."),
    ("keras.src.", "keras."),
    ("keras.api.", "keras."),
)
_CANONICAL_EXACT = {"tensorflow.keras": "keras", "tf_keras": "keras", "keras.api": "keras"}

# Submodules that re-export the same symbols (Keras 2 style paths).
_LAYER_SUBMODULES = (
    "core", "convolutional", "pooling", "recurrent", "normalization", "merge", "embeddings",
    "advanced_activations", "wrappers", "noise", "reshaping", "attention", "activation",
    "preprocessing", "regularization", "rnn", "merging", "cudnn_recurrent",
    "convolutional_recurrent", "experimental",
)
_ALIASES = {
    "keras.models.Sequential": "keras.Sequential",
    "keras.models.Model": "keras.Model",
    "keras.engine.training.Model": "keras.Model",
    "keras.layers.Input": "keras.Input",
    "keras.engine.input_layer.Input": "keras.Input",
    "keras.models.load_model": "keras.saving.load_model",
    "keras.layers.Layer": "keras.layers.Layer",
    "keras.engine.base_layer.Layer": "keras.layers.Layer",
}


def canonical(qualname: str) -> str:
    """Map any spelling of a Keras path onto ``keras.<public path>``."""
    if qualname in _CANONICAL_EXACT:
        return _CANONICAL_EXACT[qualname]
    for prefix, repl in _CANONICAL_PREFIXES:
        if qualname.startswith(prefix):
            qualname = repl + qualname[len(prefix):]
            break
    parts = qualname.split(".")
    if len(parts) == 5 and parts[:4] == ["keras", "layers", "experimental", "preprocessing"]:
        return f"keras.layers.{parts[4]}"  # TF 2.2-2.5's home of the preprocessing layers
    if len(parts) == 4 and parts[:2] == ["keras", "layers"] and parts[2] in _LAYER_SUBMODULES:
        qualname = f"keras.layers.{parts[3]}"
    return _ALIASES.get(qualname, qualname)


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` as a string, or None for anything that is not a plain dotted name."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


def _module_name(node: cst.BaseExpression) -> str:
    name = dotted(node)
    return name or ""


@dataclass
class ImportTable:
    """Local name → fully qualified name, for everything imported from keras/tensorflow."""

    names: dict[str, str] = field(default_factory=dict)
    # (line-independent) list of import statements that touch keras/tensorflow
    keras_modules: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)  # `RNN = layers.LSTM` at module level
    # the script's keras.Model subclasses without __init__/call, built functionally
    # (``CustomModel(inputs, outputs)``): they resolve as ``keras.Model``
    subclasses: set[str] = field(default_factory=set)
    # the script's keras.optimizers.schedules.LearningRateSchedule subclasses (plain
    # callables of the step once converted)
    schedules: set[str] = field(default_factory=set)
    # the script's keras.metrics.Metric subclasses that convert -> their default logged name
    metric_classes: dict[str, str] = field(default_factory=dict)

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """Canonical qualified name of an expression like ``layers.Dense``, if it is Keras/TF."""
        name = dotted(node)
        return None if name is None else self.resolve_dotted(name)

    def resolve_dotted(self, name: str) -> str | None:
        """``resolve`` of a dotted name already written as a string (no node to build)."""
        if name in self.subclasses:
            return "keras.Model"
        head, _, rest = name.partition(".")
        target = self.names.get(head)
        if target is None:
            return None
        full = f"{target}.{rest}" if rest else target
        return canonical(full)

    def add_import(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = _module_name(alias.name)
                if not _is_framework(full):
                    continue
                self.keras_modules.add(full)
                if alias.asname is not None:
                    local = _module_name(alias.asname.name)
                    self.names[local] = full
                else:
                    head = full.split(".")[0]
                    self.names[head] = head
            return
        if node.relative or node.module is None:
            return
        module = _module_name(node.module)
        if not _is_framework(module):
            return
        self.keras_modules.add(module)
        if isinstance(node.names, cst.ImportStar):
            self.names["*" + module] = module
            return
        for alias in node.names:
            imported = _module_name(alias.name)
            local = _module_name(alias.asname.name) if alias.asname is not None else imported
            self.names[local] = f"{module}.{imported}"


def _is_framework(module: str) -> bool:
    top = module.split(".")[0]
    return top in ("keras", "tensorflow", "tf_keras")


def _blocks(body: object) -> list[cst.CSTNode]:
    """Statements of a block and of the blocks nested in it (if/try/with/def/class)."""
    out: list[cst.CSTNode] = []
    stack = list(body) if isinstance(body, (list, tuple)) else []
    while stack:
        stmt = stack.pop(0)
        out.append(stmt)
        inner = getattr(stmt, "body", None)
        if isinstance(inner, cst.BaseSuite) and isinstance(inner, cst.IndentedBlock):
            stack.extend(inner.body)
        for attr in ("orelse", "finalbody"):
            extra = getattr(stmt, attr, None)
            block = getattr(extra, "body", None)
            if isinstance(block, cst.IndentedBlock):
                stack.extend(block.body)
        for handler in getattr(stmt, "handlers", ()) or ():
            if isinstance(handler.body, cst.IndentedBlock):
                stack.extend(handler.body.body)
    return out


_SCHEDULE_BASE = "keras.optimizers.schedules.LearningRateSchedule"


def collect_imports(module: cst.Module) -> ImportTable:
    """Imports at any statement level (no expression-level traversal: cheap)."""
    table = ImportTable()
    for stmt in _blocks(list(module.body)):
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    table.add_import(small)
    _layer_aliases(module, table)
    table.schedules = {s.name.value for s in module.body if isinstance(s, cst.ClassDef)
                       and any(table.resolve(b.value) == _SCHEDULE_BASE for b in s.bases)}
    return table


def _layer_aliases(module: cst.Module, table: ImportTable) -> None:
    """``RNN = layers.LSTM`` at module level, assigned once: ``RNN(...)`` is that layer."""
    found: dict[str, str | None] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
                continue
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) \
                else [small.target]
            for target in targets:
                if isinstance(target, cst.Name):
                    value = small.value if isinstance(small, cst.Assign) and len(targets) == 1 \
                        else None
                    q = table.resolve(value) if value is not None else None
                    layer = q is not None and q.startswith("keras.layers.") and \
                        q.count(".") == 2 and q.rsplit(".", 1)[1][:1].isupper()
                    name = target.value
                    found[name] = q if layer and name not in found else None
    for name, q in found.items():
        if q is not None and name not in table.names:
            table.names[name] = q
            table.aliases.add(name)

