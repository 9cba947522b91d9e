"""Builder parameters read in ``forward``: the generated class keeps them as attributes.

A layer written with a parameter of its builder (``Resizing(size + 4, ...)`` in
``def make_model(size)``) can put that name in ``forward`` (a crop window, a reshape); the
name lives only in ``__init__``, so ``forward`` reads ``self.<name>`` set there.
"""

from __future__ import annotations

import re

import libcst as cst

_INIT_ANCHOR = re.compile(r"^([ \t]*)self\.save_hyperparameters\(.*\)$", re.MULTILINE)


class _Rename(cst.CSTTransformer):
    def __init__(self, names: set[str], taken: set[str]) -> None:
        self.names, self.taken = names, taken
        self.used: set[str] = set()
        self.keywords: set[int] = set()  # ``dim=`` of ``x.mean(dim=1)``: no read of ``dim``

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.keywords.add(id(node.keyword))

    def leave_Name(self, original: cst.Name, updated: cst.Name
                   ) -> cst.Name | cst.Attribute | cst.Subscript:
        if original.value not in self.names or id(original) in self.keywords:
            return updated
        self.used.add(original.value)
        if original.value in self.taken:  # a module of the same name: read the hparams
            return cst.parse_expression(f'self.hparams["{original.value}"]')  # type: ignore[return-value]
        return cst.Attribute(cst.Name("self"), cst.Name(original.value))

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)  # size=... stays a keyword

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute
                        ) -> cst.Attribute:
        return updated.with_changes(attr=original.attr)


def _assign_targets(fn: cst.FunctionDef) -> list[cst.BaseExpression]:
    out: list[cst.BaseExpression] = []

    class _Targets(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            out.append(node.target)

    fn.visit(_Targets())
    return out


def _names(node: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [n for e in node.elements for n in _names(e.value)]
    return []


def keep_in_forward(class_code: str, params: list[str]) -> str:
    """``class_code`` with ``params`` read in ``forward`` as ``self.<name>``."""
    forward = class_code.partition("    def forward(")[2]
    if not any(re.search(rf"(?<![\w.]){re.escape(p)}\b", forward) for p in params):
        return class_code  # the common case: no parse
    module = cst.parse_module(class_code)
    taken = {line.strip().split(" = ", 1)[0][len("self."):]
             for line in class_code.splitlines() if line.strip().startswith("self.")}
    rename = _Rename(set(params), taken)

    class _Forward(cst.CSTTransformer):
        def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef
                              ) -> cst.FunctionDef:
            if original.name.value != "forward":
                return updated
            local = {p.name.value for p in original.params.params} | {
                n.value for a in _assign_targets(original) for n in _names(a)}
            rename.names -= local  # a tensor of the same name is the forward's own
            return updated.with_changes(body=updated.body.visit(rename))

    code = module.visit(_Forward()).code
    keep = sorted(rename.used - taken)
    anchor = _INIT_ANCHOR.search(code)
    if not keep or anchor is None:
        return code
    indent = anchor.group(1)
    lines = "".join(f"\n{indent}self.{n} = {n}  # read in forward" for n in keep)
    return code[:anchor.end()] + lines + code[anchor.end():]


def array_params(params: list[str], init_lines: list[str]) -> set[str]:
    """The parameters ``__init__`` reads as arrays (``.shape``, a tensor made of them)."""
    text = "\n".join(init_lines)
    return {p for p in params if re.search(
        rf"(?<![\w.]){re.escape(p)}\.shape\b|(?:as_tensor|from_numpy|asarray|tensor)\("
        rf"{re.escape(p)}\b", text)}
