"""A list of Keras layers applied in order by a loop, as a ``keras.Sequential``.

``augmentation_layers = [layers.RandomFlip(...), layers.RandomRotation(...)]`` and
``for layer in augmentation_layers: x = layer(x)`` (in a tf.data map function, a builder or
the script) compute what ``keras.Sequential([...])(x)`` computes: each layer once, in order,
``training=`` passed to each. The model rules convert a Sequential (into an ``nn.Sequential``
-like class, random layers active only while training), not a bare list, so the list and its
loops are written as that Sequential before they run; the rewrite is dropped when a Keras model
is left anyway (``rewritten_lines.with_rewrite``).

Only where nothing else can tell the difference: the name is bound once, to a list or tuple
of Keras layer calls, and every read of it is the iterable of such a loop (a single
``x = layer(x)`` or ``x = layer(x, training=...)`` statement, no ``else``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst
from libcst.metadata import PositionProvider

from agent.rules.bindings import Bindings
from agent.rules.imports import ImportTable
from agent.rules.training.rewritten_lines import R, Rewritten, with_rewrite

# `for layer in some_layers:` followed by `x = layer(`: the cheap test before parsing
_LOOP = re.compile(r"^[ \t]*for[ \t]+(\w+)[ \t]+in[ \t]+\w+[ \t]*:[ \t]*\n[ \t]+(\w+)[ \t]*="
                   r"[ \t]*\1\([ \t]*\2\b", re.M)
_SEQUENTIAL = ("keras.Sequential", "keras.models.Sequential")


def _applied(loop: cst.For) -> tuple[str, str] | None:
    """(list name, tensor name) of ``for layer in NAME: x = layer(x[, training=...])``."""
    if not isinstance(loop.iter, cst.Name) or not isinstance(loop.target, cst.Name) \
            or loop.orelse is not None or loop.asynchronous is not None \
            or not isinstance(loop.body, cst.IndentedBlock) or len(loop.body.body) != 1:
        return None
    line = loop.body.body[0]
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    assign = line.body[0]
    if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
        return None
    target, call = assign.targets[0].target, assign.value
    if not isinstance(target, cst.Name) or not isinstance(call, cst.Call) \
            or not isinstance(call.func, cst.Name) or call.func.value != loop.target.value:
        return None
    if not call.args:
        return None
    first, *rest = call.args
    if first.keyword is not None or first.star \
            or not isinstance(first.value, cst.Name) or first.value.value != target.value:
        return None
    if any(a.keyword is None or a.keyword.value != "training" for a in rest):
        return None
    return loop.iter.value, target.value


def _layer_list(value: cst.BaseExpression, imports: ImportTable) -> bool:
    """A list/tuple display of Keras layer constructor calls."""
    if not isinstance(value, (cst.List, cst.Tuple)) or not value.elements:
        return False
    return all(isinstance(e, cst.Element) and isinstance(e.value, cst.Call)
               and (imports.resolve(e.value.func) or "").startswith("keras.layers.")
               for e in value.elements)


def _sequential(imports: ImportTable) -> str | None:
    """How this file can spell ``keras.Sequential`` with the names it imports."""
    for local in sorted(imports.names):
        for spelled in (local, f"{local}.Sequential", f"{local}.keras.Sequential",
                        f"{local}.models.Sequential"):
            if imports.resolve_dotted(spelled) in _SEQUENTIAL:
                return spelled
    return None


class _Uses(Bindings):
    """Bindings of names to layer lists, the loops over names, and every other name use."""

    def __init__(self, imports: ImportTable) -> None:
        self.imports = imports
        self.lists: dict[str, list[cst.SimpleStatementLine]] = {}
        self.loops: dict[str, list[cst.For]] = {}
        self.names: dict[str, int] = {}  # every Name node, by text
        self.binds: dict[str, int] = {}  # assignments/loop targets/... of a name

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) == 1 and isinstance(node.body[0], cst.Assign):
            a = node.body[0]
            if len(a.targets) == 1 and isinstance(a.targets[0].target, cst.Name) \
                    and _layer_list(a.value, self.imports):
                self.lists.setdefault(a.targets[0].target.value, []).append(node)

    def visit_For(self, node: cst.For) -> None:
        found = _applied(node)
        if found is not None:
            self.loops.setdefault(found[0], []).append(node)

    def visit_Name(self, node: cst.Name) -> None:
        self.names[node.value] = self.names.get(node.value, 0) + 1

    def bound(self, name: str) -> None:
        self.binds[name] = self.binds.get(name, 0) + 1

    def visit_Param(self, node: cst.Param) -> None:
        self.bind_target(node.name)

    def visit_Global(self, node: cst.Global) -> None:
        for n in node.names:
            self.bind_target(n.name)


class _Apply(cst.CSTTransformer):
    def __init__(self, lists: dict[int, str], loops: dict[int, str]) -> None:
        self.lists = lists  # id(assignment line) -> Sequential spelling
        self.loops = loops  # id(For) -> list name

    def leave_SimpleStatementLine(self, original: cst.SimpleStatementLine,
                                  updated: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        spelled = self.lists.get(id(original))
        if spelled is None:
            return updated
        assign = updated.body[0]
        assert isinstance(assign, cst.Assign)
        value = assign.value
        assert isinstance(value, (cst.List, cst.Tuple))
        listed = value if isinstance(value, cst.List) else cst.List(
            list(value.elements),
            lbracket=cst.LeftSquareBracket(value.lpar[0].whitespace_after)
            if value.lpar else cst.LeftSquareBracket(),
            rbracket=cst.RightSquareBracket(value.rpar[0].whitespace_before)
            if value.rpar else cst.RightSquareBracket())
        call = cst.Call(cst.parse_expression(spelled), [cst.Arg(listed)])
        return updated.with_changes(body=[assign.with_changes(value=call)])

    def leave_For(self, original: cst.For, updated: cst.For
                  ) -> cst.For | cst.SimpleStatementLine:
        name = self.loops.get(id(original))
        if name is None:
            return updated
        assert isinstance(updated.body, cst.IndentedBlock)
        line = updated.body.body[0]
        assert isinstance(line, cst.SimpleStatementLine)
        assign = line.body[0]
        assert isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Call)
        call = assign.value.with_changes(func=cst.Name(name))
        return line.with_changes(body=[assign.with_changes(value=call)],
                                 leading_lines=updated.leading_lines)


def rewrite_layer_lists(code: str, imports: ImportTable) -> Rewritten:
    """``code`` with its looped-over layer lists written as ``keras.Sequential`` calls."""
    if not _LOOP.search(code):
        return Rewritten(code)
    spelled = _sequential(imports)
    if spelled is None:
        return Rewritten(code)
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return Rewritten(code)
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    uses = _Uses(imports)
    wrapper.visit(uses)
    lists: dict[int, str] = {}
    loops: dict[int, str] = {}
    done: list[tuple[cst.CSTNode, str]] = []
    for name, binds in uses.lists.items():
        over = uses.loops.get(name, [])
        # the binding and one read per loop: nothing else sees the list
        if len(binds) != 1 or uses.binds.get(name, 0) != 1 or not over \
                or uses.names.get(name, 0) != 1 + len(over):
            continue
        lists[id(binds[0])] = spelled
        loops.update({id(loop): name for loop in over})
        assign = binds[0].body[0]
        assert isinstance(assign, cst.Assign) and isinstance(assign.value, (cst.List, cst.Tuple))
        done.append((binds[0], f"{name}: {len(assign.value.elements)} Keras layers applied in "
                               f"order by {len(over)} loop(s) -> {spelled}([...]), called once"))
    if not done:
        return Rewritten(code)
    positions = wrapper.resolve(PositionProvider)
    new = wrapper.module.visit(_Apply(lists, loops))
    out = Rewritten(new.code)
    for node, msg in done:
        out.changes.append((positions[node].start.line, "models.layer_list", msg))
    return out


def with_layer_lists(source: str, path: str, convert: Callable[[str, str], R]) -> R:
    """``convert`` run on the source with its looped-over layer lists as Sequentials, records
    in the source's lines; ``convert(source)`` when there is none, or a Keras model is left."""
    if not _LOOP.search(source):  # cheap: most files loop over no list of layers
        return convert(source, path)
    return with_rewrite(source, path, convert, rewrite_layer_lists)
