"""``tf.distribute`` strategies once no Keras model is left: Lightning's Trainer does their job.

A script picks a strategy (``TPUStrategy(resolver)``, ``MirroredStrategy()``, the default
``get_strategy()``), builds its model under ``with strategy.scope():`` and sizes its global
batch as ``per_replica * strategy.num_replicas_in_sync``. Converted, the model is a
LightningModule and ``pl.Trainer`` (``accelerator="auto"``, ``devices="auto"``) places it on
the available devices, one process per device under DDP. So:

* the strategy and TPU resolver assignments go, with the set-up calls that take the resolver
  (``tf.config.experimental_connect_to_cluster``, ``initialize_tpu_system``) and statements
  that only print it; a ``try`` whose body is left empty goes whole (its handlers could only
  catch what the body raised);
* ``with strategy.scope():`` → its body, dedented (torch has no variable-placement scope);
* ``strategy.num_replicas_in_sync`` → ``1``: a Lightning DataLoader's ``batch_size`` is per
  device, as TF's global batch divided by its replicas was, so per-device and global batches
  stay what they were;
* ``strategy.experimental_distribute_dataset(ds)`` → ``ds`` (Lightning shards loaders itself).

All or none per script: any other use of a strategy or resolver name (``strategy.run``,
``strategy.reduce``, a resolver in a test) leaves every statement as written.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
from libcst.metadata import PositionProvider

from agent.rules.imports import ImportTable
from agent.rules.training.rewritten_lines import R, Rewritten, with_rewrite
from agent.rules.values import code_of

_PREFIX = "tensorflow.distribute."
_RESOLVERS = ("tensorflow.distribute.cluster_resolver.",)
_SETUP = ("tensorflow.config.experimental_connect_to_cluster",
          "tensorflow.config.experimental_connect_to_host",
          "tensorflow.tpu.experimental.initialize_tpu_system")


def _kind(call: cst.BaseExpression, imports: ImportTable) -> str:
    """"strategy", "resolver" or "" for the value of an assignment."""
    if not isinstance(call, cst.Call):
        return ""
    qual = imports.resolve(call.func) or ""
    if qual.startswith(_RESOLVERS):
        return "resolver"
    last = qual.rsplit(".", 1)[-1]
    if qual.startswith(_PREFIX) and (last.endswith("Strategy") or last == "get_strategy"):
        return "strategy"
    return ""


class _Find(cst.CSTVisitor):
    """Names bound to strategies/resolvers, and whether every use of them is one we rewrite."""

    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.names: dict[str, str] = {}  # name -> "strategy" | "resolver"
        self.ok = True
        self.allowed: set[int] = set()  # ids of Name nodes whose use is handled

    def visit_Assign(self, node: cst.Assign) -> None:
        kind = _kind(node.value, self.imports)
        if not kind:
            return
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            name = node.targets[0].target.value
            if self.names.get(name, kind) != kind:
                self.ok = False
            self.names[name] = kind
            self.allowed.add(id(node.targets[0].target))
        else:
            self.ok = False


class _Check(cst.CSTVisitor):
    """Marks the handled uses; any other use of a bound name makes ``ok`` False."""

    def __init__(self, find: _Find) -> None:
        self.f = find
        self.expr_depth = 0  # inside an expression statement (a print of the resolver)

    def visit_Expr(self, node: cst.Expr) -> None:
        self.expr_depth += 1

    def leave_Expr(self, node: cst.Expr) -> None:
        self.expr_depth -= 1

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and self.f.names.get(node.value.value) == "strategy" \
                and node.attr.value == "num_replicas_in_sync":
            self.f.allowed.add(id(node.value))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and self.f.names.get(func.value.value) == "strategy":
            if (func.attr.value == "scope" and not node.args) or (
                    func.attr.value == "experimental_distribute_dataset"
                    and len(node.args) == 1 and node.args[0].keyword is None
                    and not node.args[0].star):
                self.f.allowed.add(id(func.value))
        qual = self.f.imports.resolve(func) or ""
        if qual in _SETUP or _kind(node, self.f.imports):  # resolver arguments
            for arg in node.args:
                if isinstance(arg.value, cst.Name) and arg.value.value in self.f.names:
                    self.f.allowed.add(id(arg.value))

    def visit_Name(self, node: cst.Name) -> None:
        kind = self.f.names.get(node.value)
        if kind is None or id(node) in self.f.allowed:
            return
        if kind == "resolver" and self.expr_depth:
            return  # print("Device:", tpu.master()): the statement goes
        self.f.ok = False


class _Apply(cst.CSTTransformer):
    def __init__(self, imports: ImportTable, names: dict[str, str]) -> None:
        self.imports = imports
        self.names = names
        self.done: list[tuple[cst.CSTNode, str, str]] = []  # (node, rule, message)
        self.filled: set[int] = set()  # ids of the ``pass`` statements put in emptied blocks

    def _uses_resolver(self, node: cst.CSTNode) -> bool:
        found = False

        class V(cst.CSTVisitor):
            def visit_Name(inner, n: cst.Name) -> None:  # noqa: N805
                nonlocal found
                found = found or self.names.get(n.value) == "resolver"

        node.visit(V())
        return found

    def _drops(self, small: cst.BaseSmallStatement) -> str:
        """Why the small statement goes ("" when it stays)."""
        if isinstance(small, cst.Assign) and _kind(small.value, self.imports):
            return f"{code_of(small.value.func)}(...) assignment dropped"  # type: ignore[attr-defined]
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            qual = self.imports.resolve(small.value.func) or ""
            if qual in _SETUP:
                return f"{qual} dropped"
            if self._uses_resolver(small):
                return "statement reading the TPU resolver dropped"
        return ""

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine
                                  ) -> cst.BaseStatement | cst.RemovalSentinel:
        kept = []
        for old, new in zip(original.body, updated.body, strict=True):
            why = self._drops(old)
            if why:
                self.done.append((original, "distribute.dropped", why))
            else:
                kept.append(new)
        if not kept:
            return cst.RemoveFromParent()
        if len(kept) == len(updated.body):
            return updated
        kept[-1] = kept[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(body=kept)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.BaseExpression:
        if isinstance(original.value, cst.Name) \
                and self.names.get(original.value.value) == "strategy" \
                and original.attr.value == "num_replicas_in_sync":
            self.done.append((original, "distribute.replicas",
                              "num_replicas_in_sync -> 1 (batch sizes are per device)"))
            return cst.Integer("1")
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = original.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and self.names.get(func.value.value) == "strategy" \
                and func.attr.value == "experimental_distribute_dataset":
            self.done.append((original, "distribute.dataset",
                              "experimental_distribute_dataset(ds) -> ds"))
            return updated.args[0].value
        return updated

    def leave_With(self, original: cst.With, updated: cst.With
                   ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] \
            | cst.RemovalSentinel:
        items = original.items
        if not (len(items) == 1 and items[0].asname is None
                and isinstance(items[0].item, cst.Call)
                and isinstance(items[0].item.func, cst.Attribute)
                and isinstance(items[0].item.func.value, cst.Name)
                and self.names.get(items[0].item.func.value.value) == "strategy"):
            return updated
        self.done.append((original, "distribute.scope", "with strategy.scope(): body dedented"))
        body = updated.body
        stmts: list[cst.BaseStatement] = []
        if isinstance(body, cst.IndentedBlock):
            stmts = list(body.body)
        elif isinstance(body, cst.SimpleStatementSuite):
            stmts = [cst.SimpleStatementLine(list(body.body))]
        if not stmts:
            return cst.RemoveFromParent()
        first = stmts[0]
        if isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            stmts[0] = first.with_changes(leading_lines=[*updated.leading_lines,
                                                         *first.leading_lines])
        return cst.FlattenSentinel(stmts)

    def leave_Try(self, original: cst.Try, updated: cst.Try
                  ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] \
            | cst.RemovalSentinel:
        body = updated.body.body
        if not (len(body) == 1 and id(body[0]) in self.filled):
            return updated
        rest = [*(updated.orelse.body.body if updated.orelse else []),
                *(updated.finalbody.body.body if updated.finalbody else [])]
        if not rest:
            return cst.RemoveFromParent()
        return cst.FlattenSentinel(rest)

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock
                            ) -> cst.IndentedBlock:
        if not updated.body and original.body:  # every statement of the block went
            filler = cst.SimpleStatementLine([cst.Pass()])
            self.filled.add(id(filler))  # a try body: the whole try goes (leave_Try)
            return updated.with_changes(body=[filler])
        return updated


def rewrite_strategies(code: str, imports: ImportTable, models_left: bool,
                       source: str = "") -> Rewritten:
    """``code`` without its tf.distribute strategy; unchanged when a Keras model is left or a
    strategy is used in a way the rules do not rewrite."""
    if models_left or "distribute" not in code:
        return Rewritten(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return Rewritten(code)
    find = _Find(imports)
    module.visit(find)
    if not find.names or not any(k == "strategy" for k in find.names.values()):
        return Rewritten(code)
    module.visit(_Check(find))
    if not find.ok:
        return Rewritten(code)
    apply = _Apply(imports, find.names)
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    new = wrapper.visit(apply)
    out = Rewritten(new.code)
    for node, rule, msg in apply.done:
        out.changes.append((positions[node].start.line, rule, msg))
    if apply.done:
        out.warnings.append((min((c[0] for c in out.changes if c[0]), default=0),
                             "tf.distribute strategy removed: Lightning's Trainer "
                             "(accelerator=\"auto\", devices=\"auto\") places the model on the "
                             "available devices; num_replicas_in_sync is 1 (a DataLoader's "
                             "batch_size is per device)"))
    return out


def without_strategies(source: str, path: str, convert: Callable[[str, str], R]) -> R:
    """``convert`` run on the source without its strategy, records in the source's lines;
    ``convert(source)`` as it is when there is none, or a Keras model is left anyway."""
    if "distribute" not in source:
        return convert(source, path)
    return with_rewrite(source, path, convert,
                        lambda code, imports: rewrite_strategies(code, imports, False, code))
