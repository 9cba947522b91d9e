"""Module transformer: Keras model definitions → generated LightningModule classes.

For each block (module body, function bodies, ``if __name__ == "__main__":``), the
extractor finds models; each generated class is inserted just before the statement that
holds the block, and the statements that only built the model become one instantiation.
A model the rules cannot convert stays as it was, marked ``TODO(k2l)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from agent.rules.codegen import generate
from agent.rules.extract import BlockExtractor, Found, LambdaConverter
from agent.rules.graph import ModelIR
from agent.rules.imports import ImportTable


@dataclass(frozen=True)
class Recipe:
    """How to build one converted model and its Keras original, for the equivalence check.

    ``function``: the builder function that returns it (called with defaults), or "" for a
    module-level model, rebuilt by running ``original_code`` over the module's definitions.
    """

    class_name: str
    var: str
    function: str
    original_code: str
    needs_args: bool


@dataclass
class ModelsResult:
    module: cst.Module
    changes: list[tuple[int, str, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    unmapped: list[tuple[int, str, str, str]] = field(default_factory=list)  # +qualname
    converted: list[ModelIR] = field(default_factory=list)
    helpers: set[str] = field(default_factory=set)
    recipes: list[Recipe] = field(default_factory=list)


def _todo(line: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(f"# TODO(k2l): {line}"))


def _instantiation(found: Found) -> cst.SimpleStatementLine:
    ir = found.ir
    args = ", ".join(f"{p.name}={p.name}" for p in ir.params)
    call = f"{ir.class_name}({args})"
    code = f"return {call}\n" if found.is_return else f"{ir.var} = {call}\n"
    stmt = cst.parse_statement(code)
    assert isinstance(stmt, cst.SimpleStatementLine)
    return stmt


class ModelConverter:
    def __init__(self, module: cst.Module, imports: ImportTable, env: dict[str, Any],
                 custom_layers: set[str], lambda_converter: LambdaConverter | None) -> None:
        self.module = module
        self.imports = imports
        self.env = env
        self.custom_layers = custom_layers
        self.lambda_converter = lambda_converter
        self.result = ModelsResult(module)
        self.models: dict[str, ModelIR] = {}
        self.taken_classes: set[str] = _defined_names(module)
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        self.positions = wrapper.resolve(PositionProvider)

    def line(self, node: cst.CSTNode) -> int:
        pos = self.positions.get(node)
        return pos.start.line if pos is not None else 0

    def run(self) -> ModelsResult:
        new_body: list[cst.BaseStatement] = []
        module_names = _defined_names(self.module) | set(self.imports.names)
        top_classes, top_body = self.block(list(self.module.body), None, {}, module_names)
        pending = {id(stmt): classes for stmt, classes in top_classes}
        for stmt in top_body:
            classes = pending.get(id(stmt), [])
            for cls in classes:
                new_body.append(_spaced(cls))
            new_body.append(_spaced(stmt) if classes else stmt)
        self.result.module = self.module.with_changes(body=new_body)
        return self.result

    def block(self, body: list[cst.BaseStatement], function: cst.FunctionDef | None,
              params: dict[str, str | None], module_names: set[str]
              ) -> tuple[list[tuple[cst.BaseStatement, list[cst.BaseStatement]]],
                         list[cst.BaseStatement]]:
        """Convert one block; returns (classes to insert before a statement, new body)."""
        inserts: list[tuple[cst.BaseStatement, list[cst.BaseStatement]]] = []
        # recurse first into nested blocks (functions, if __main__)
        body = list(body)
        for k, stmt in enumerate(body):
            if isinstance(stmt, cst.FunctionDef) and function is None:
                body[k] = self.function(stmt, module_names, inserts)
            elif isinstance(stmt, cst.If) and function is None and _is_main(stmt):
                inner_inserts, inner = self.block(list(stmt.body.body), None, {}, module_names)
                new_if = stmt.with_changes(body=stmt.body.with_changes(body=inner))
                body[k] = new_if
                classes = [c for _, cs in inner_inserts for c in cs]
                if classes:
                    inserts.append((new_if, classes))
        lines = [self.line(s) for s in body]
        extractor = BlockExtractor(
            self.imports, self.env, function=function.name.value if function else None,
            params=params, custom_layers=self.custom_layers, models_in_scope=self.models,
            lambda_converter=self.lambda_converter, module_names=module_names, lines=lines,
            line_of=self.line)
        founds = extractor.run(body)
        for line, what, reason in extractor.errors:
            self.result.unmapped.append((line, what, reason, function.name.value if function else ""))
        replace: dict[int, cst.BaseStatement] = {}
        remove: set[int] = set()
        classes_at: dict[int, list[cst.BaseStatement]] = {}
        for found in founds:
            ir = found.ir
            ir.class_name = self._unique(ir.class_name)
            gen = generate(ir)
            qual = function.name.value if function else ir.class_name
            for line, msg in gen.warnings:
                self.result.warnings.append((line, msg))
            if not gen.code:
                for line, keras, reason in gen.unmapped:
                    self.result.unmapped.append((line, keras, reason, qual))
                stmt = body[found.at]
                note = f"model `{ir.var or ir.class_name}` not converted: " + "; ".join(
                    r for _, _, r in gen.unmapped[:3])
                body[found.at] = stmt.with_changes(
                    leading_lines=[*stmt.leading_lines, _todo(note)])
                continue
            for line, keras, reason in gen.unmapped:
                self.result.unmapped.append((line, keras, reason, ir.class_name))
            self.result.changes.extend(gen.changes)
            self.result.changes.append((ir.line, f"model.{ir.kind}",
                                        f"{ir.kind} model -> class {ir.class_name}"))
            if gen.lazy:
                self.result.warnings.append((ir.line, f"{ir.class_name}: some input sizes are "
                                             "unknown statically; Lazy modules used"))
            self.result.helpers |= gen.helpers
            self.result.converted.append(ir)
            self.result.recipes.append(self._recipe(found, body, function, params))
            cls = cst.parse_module(gen.code).body[0]
            first = min(found.owned)
            classes_at.setdefault(first, []).append(cls)
            replace[found.at] = _instantiation(found)
            remove |= found.owned - {found.at}
        new_body: list[cst.BaseStatement] = []
        for k, stmt in enumerate(body):
            if k in classes_at and function is None:
                marker = replace.get(k, stmt) if k not in remove else None
                if marker is not None:
                    inserts.append((marker, classes_at[k]))
                else:
                    nxt = next((j for j in range(k + 1, len(body)) if j not in remove), None)
                    target = replace.get(nxt, body[nxt]) if nxt is not None else None
                    if target is not None:
                        inserts.append((target, classes_at[k]))
            elif k in classes_at:
                inserts.append((stmt, classes_at[k]))  # function blocks: hoisted by caller
            if k in remove:
                continue
            new_body.append(replace.get(k, stmt))
        return inserts, new_body

    def function(self, fn: cst.FunctionDef, module_names: set[str],
                 inserts: list[tuple[cst.BaseStatement, list[cst.BaseStatement]]]
                 ) -> cst.FunctionDef:
        if not isinstance(fn.body, cst.IndentedBlock):
            return fn
        params: dict[str, str | None] = {}
        for p in fn.params.params + fn.params.kwonly_params:
            params[p.name.value] = (cst.Module([]).code_for_node(p.default)
                                    if p.default is not None else None)
        inner_inserts, inner = self.block(list(fn.body.body), fn, params, module_names)
        new_fn = fn.with_changes(body=fn.body.with_changes(body=inner))
        classes = [c for _, cs in inner_inserts for c in cs]
        if classes:
            inserts.append((new_fn, classes))
        return new_fn

    def _recipe(self, found: Found, body: list[cst.BaseStatement],
                function: cst.FunctionDef | None, params: dict[str, str | None]) -> Recipe:
        ir = found.ir
        if function is not None:
            required = any(default is None for default in params.values())
            return Recipe(ir.class_name, ir.var, function.name.value, "", required)
        code = "".join(cst.Module([]).code_for_node(body[k]) for k in sorted(found.owned))
        needs = any(p.default is None for p in ir.params)
        return Recipe(ir.class_name, ir.var, "", code, needs or not ir.var)

    def _unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.taken_classes:
            n += 1
            name = f"{base}{n}"
        self.taken_classes.add(name)
        return name


def _spaced(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """Two blank lines before a top-level definition or the statement after one (PEP 8)."""
    lines = list(stmt.leading_lines)
    blanks = 0
    for line in lines:
        if line.comment is None:
            blanks += 1
        else:
            break
    extra = [cst.EmptyLine()] * max(0, 2 - blanks)
    return stmt.with_changes(leading_lines=[*extra, *lines])


def _is_main(node: cst.If) -> bool:
    code = cst.Module([]).code_for_node(node.test).replace("'", '"')
    return "__name__" in code and '"__main__"' in code


def _defined_names(module: cst.Module) -> set[str]:
    names: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)):
            names.add(stmt.name.value)
    return names


def convert_models(module: cst.Module, imports: ImportTable, env: dict[str, Any],
                   custom_layers: Sequence[str] = (),
                   lambda_converter: LambdaConverter | None = None) -> ModelsResult:
    return ModelConverter(module, imports, env, set(custom_layers), lambda_converter).run()
