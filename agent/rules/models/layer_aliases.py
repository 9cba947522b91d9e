"""``RNN = recurrent.LSTM`` once the models that call ``RNN(...)`` are torch classes.

Keras 2 scripts pick a layer class once at module level and call the alias in the model.
After conversion the alias is dropped when nothing reads it any more; when the script still
shows it (``print('RNN = {}'.format(RNN))``) and never calls it outside the converted
models, it names the torch class those models now use (``RNN = nn.LSTM``): any other read
(an argument of a builder left in Keras, a call) keeps the Keras class, reported as before.
"""

from __future__ import annotations

import re

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.layers import lookup

# calls whose arguments only show a value: reading the alias there cannot build a layer
_SHOWS = frozenset({"print", "format", "str", "repr"})


def settle_aliases(body: list[cst.BaseStatement], imports: ImportTable,
                   generated: dict[str, str]
                   ) -> tuple[list[cst.BaseStatement], list[tuple[cst.BaseStatement, str]]]:
    """The body without unread aliases and with shown-only ones retargeted to torch;
    (its original statement, the new text) for each one
    retargeted. ``generated``: placeholder -> class code."""
    at = {k: s.body[0].targets[0].target.value for k, s in enumerate(body)
          if isinstance(s, cst.SimpleStatementLine) and isinstance(s.body[0], cst.Assign)
          and isinstance(s.body[0].targets[0].target, cst.Name)
          and s.body[0].targets[0].target.value in imports.aliases}
    if not at:
        return body, []
    kept = [s for s in body if not _is_marker(s, generated)]
    text = "\n".join(cst.Module([]).code_for_node(s) for s in kept)
    text += "\n" + "\n".join(generated.values())  # the classes: a layer kept as written may still name it
    out: list[cst.BaseStatement] = []
    moved: list[tuple[cst.BaseStatement, str]] = []
    for k, stmt in enumerate(body):
        name = at.get(k)
        if name is None:
            out.append(stmt)
            continue
        if len(re.findall(rf"\b{re.escape(name)}\b", text)) == 1:
            continue  # only its own assignment: every use became a torch module
        target = _torch_class(imports.names.get(name, ""))
        if target is None or not _only_shown(kept, stmt, name):
            out.append(stmt)
            continue
        assert isinstance(stmt, cst.SimpleStatementLine)
        assign = stmt.body[0]
        assert isinstance(assign, cst.Assign)
        out.append(stmt.with_changes(body=[assign.with_changes(
            value=cst.parse_expression(target))]))
        moved.append((stmt, f"{name} = {target}"))
    return out, moved


def _torch_class(qualname: str) -> str | None:
    """``keras.layers.LSTM`` -> ``nn.LSTM``: the one torch module class the layer becomes."""
    spec = lookup(qualname)
    if spec is None or not spec.torch:
        return None
    head = spec.torch[0]
    if not head.startswith("torch.nn.") or head.count(".") != 2 or not head[9:10].isupper():
        return None
    return head.removeprefix("torch.")


def _only_shown(body: list[cst.BaseStatement], own: cst.BaseStatement, name: str) -> bool:
    """Every read of ``name`` outside its assignment is inside a print/format/str call."""
    finder = _Reads(name)
    for stmt in body:
        if stmt is not own:
            stmt.visit(finder)
    return finder.reads > 0 and finder.reads == finder.shown


class _Reads(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.depth = 0  # how many showing calls enclose the current node
        self.reads = 0
        self.shown = 0

    def visit_Call(self, node: cst.Call) -> None:
        self.depth += _shows(node)
        if isinstance(node.func, cst.Name) and node.func.value == self.name:
            self.reads += 1  # ``RNN(...)`` builds a layer, wherever it stands

    def leave_Call(self, original_node: cst.Call) -> None:
        self.depth -= _shows(original_node)

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        self.depth += 1

    def leave_FormattedString(self, original_node: cst.FormattedString) -> None:
        self.depth -= 1

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name:
            self.reads += 1
            self.shown += self.depth > 0

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)  # ``x.RNN`` is another object's attribute, not the alias
        return False


def _shows(node: cst.Call) -> int:
    func = node.func
    name = func.attr.value if isinstance(func, cst.Attribute) else (
        func.value if isinstance(func, cst.Name) else "")
    return int(name in _SHOWS)


def _is_marker(stmt: cst.BaseStatement, generated: dict[str, str]) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 \
        and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.Name) \
        and stmt.body[0].value.value in generated
