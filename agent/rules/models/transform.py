"""Module transformer: Keras model definitions → generated LightningModule classes.

For each block (module body, function bodies, ``if __name__ == "__main__":``), the
extractor finds models; each generated class is inserted just before the statement that
holds the block, and the statements that only built the model become one instantiation.
A model the rules cannot convert stays as it was, marked ``TODO(k2l)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import libcst as cst

from agent.rules.classes.layer_masks import CustomMask
from agent.rules.imports import ImportTable
from agent.rules.lines import LineIndex
from agent.rules.models import scopes, views
from agent.rules.models.callsites import call_values
from agent.rules.models.class_args import PASSED, TorchClasses, class_arguments
from agent.rules.models.codegen import Generated, generate
from agent.rules.models.dead_bindings import (
    outer_models,
    read_before_rebound,
    uses_model_tensors,
)
from agent.rules.models.extract import BlockExtractor, Found, LambdaConverter, bound_names
from agent.rules.models.fed_inputs import block_feeds, fed_inputs
from agent.rules.models.graph import ModelIR
from agent.rules.models.index_inputs import embedding_layers, mark_index_inputs
from agent.rules.models.layer_aliases import settle_aliases
from agent.rules.models.list_returns import list_returns
from agent.rules.models.signature import builtin_annotations, script_names, signature_changes
from agent.rules.parsed import breadth_first
from agent.rules.source_slices import SourceSlices
from agent.rules.training import custom_regularizers
from agent.rules.values import assigned_names

_MARKER = re.compile(r"__k2l_generated_\d+__")
_MODEL_CLASSES = ("keras.Model", "keras.Sequential")


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
    recipes: list[Recipe] = field(default_factory=list)
    index: LineIndex | None = None  # original lines, for later stages' records
    generated: dict[str, str] = field(default_factory=dict)  # placeholder -> class code
    slices: SourceSlices | None = None  # the parsed statements' text, for code()
    sized_layers: list[str] = field(default_factory=list)  # lazy custom layers, dry-called
    mask_readers: list[str] = field(default_factory=list)  # custom layers given Keras's masks

    def materialize(self) -> cst.Module:
        """The module with real ClassDef nodes (for transformers that edit the classes)."""
        body = []
        for stmt in self.module.body:
            marker = _marker_of(stmt)
            if marker in self.generated:
                cls = cst.parse_statement(self.generated[marker] + "\n")
                body.append(cls.with_changes(leading_lines=stmt.leading_lines))
            else:
                body.append(stmt)
        self.generated = {}
        self.module = self.module.with_changes(body=body)
        return self.module

    def code(self) -> str:
        """The module's code with the generated classes in place of their placeholders."""
        pending = dict(self.generated)

        def fill(match: re.Match[str]) -> str:  # one pass: a replace per marker is quadratic
            return pending.pop(match.group(0), match.group(0))

        code = self.slices.code(self.module) if self.slices is not None else self.module.code
        return _MARKER.sub(fill, code) if pending else code


def _todo(line: str) -> cst.EmptyLine:
    return cst.EmptyLine(comment=cst.Comment(f"# TODO(k2l): {line}"))


def _instantiation(found: Found) -> cst.SimpleStatementLine:
    """``var = Class(p=p, ...)`` or ``return Class(...)``, built without a parser round trip."""
    ir = found.ir
    args = [cst.Arg(cst.parse_expression(p.passed) if p.passed else cst.Name(p.name),
                    keyword=cst.Name(p.name),
                    equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                    if k < len(ir.params) - 1 else cst.MaybeSentinel.DEFAULT)
            for k, p in enumerate(ir.params)]
    call = cst.Call(cst.Name(ir.class_name), args=args)
    small: cst.BaseSmallStatement = (cst.Return(call) if found.is_return else
                                     cst.Assign([cst.AssignTarget(cst.Name(ir.var))], call))
    return cst.SimpleStatementLine([small])


class ModelConverter:
    def __init__(self, module: cst.Module, imports: ImportTable, env: dict[str, Any],
                 custom_layers: set[str], lambda_converter: LambdaConverter | None,
                 source: str, path: str = "") -> None:
        self.stem = PurePath(path).stem if path and not path.startswith("<") else ""
        self.module = module
        self.imports = imports
        self.env = env
        self.custom_layers = custom_layers
        self.list_returns = list_returns(module)  # custom layers returning lists
        self.lazy_layers: dict[str, bool] = {}  # custom layers with Lazy sub-layers
        self.mask_layers: dict[str, CustomMask] = {}  # how custom layers make/read masks
        self.index_layers = embedding_layers(module, imports)  # their first input: indices
        self.fed = fed_inputs(module, imports, env)  # input shapes from what the script feeds
        self.lambda_converter = lambda_converter
        self.result = ModelsResult(module)
        self.models: dict[str, ModelIR] = {}
        self.builders: dict[str, ModelIR] = {}  # builder function -> the model it returns
        # imported names too: `from keras import Model` must not be shadowed by a class Model
        self.taken_classes: set[str] = _defined_names(module) | {
            n for n in imports.names if not n.startswith("*")}
        self.index = LineIndex(module, source)
        self.result.index = self.index
        self.result.slices = SourceSlices(module, source, self.index.stmt_ast)
        self.source_lines = source.splitlines(keepends=True)
        # the statements' comments are the module's: without the words the view expander
        # looks for in any of them, its search skips comments (views.view_hints)
        self.layer_comments = any(views.LAYER_WORDS.search(c)
                                  for c in re.findall(r"#[^\r\n]*", source))
        self.framework_names = [n for n in imports.names if not n.startswith("*")]
        self.helpers = {s.name.value: s for s in module.body if isinstance(s, cst.FunctionDef)}
        self.varying: dict[str, set[str]] = {}  # builder -> parameters its calls vary
        statements = [self.index.stmt_ast[id(s)] for s in module.body
                      if id(s) in self.index.stmt_ast] if self.helpers else []
        walked = [breadth_first(s) for s in statements]  # one walk for both readers
        self.call_values = call_values(statements, env, self.varying, walked) \
            if self.helpers else {}
        self.passed_classes = False  # a class takes a layer class (class_args.py)
        self.class_args = class_arguments(statements, walked) if self.helpers else {}
        self.inlined: set[str] = set()  # helpers inlined into a converted model
        self.outer_models: frozenset[str] = frozenset()  # for a deferred function's block
        self.quiet_helpers: dict[str, int] = {}  # helper -> line: its own errors not reported
        self.script_names = script_names(
            [self.index.stmt_ast[id(s)] for s in module.body if id(s) in self.index.stmt_ast],
            env)

    def line(self, node: cst.CSTNode) -> int:
        return self.index.line(node)

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
        new_body = self._drop_inlined(new_body, self.inlined)
        if self.passed_classes:
            swap = TorchClasses(self.imports)
            new_body = [s.visit(swap) for s in new_body]  # type: ignore[misc]
        if self.imports.aliases and self.result.converted:
            new_body, moved = settle_aliases(new_body, self.imports, self.result.generated)
            self.result.changes += [(self.line(stmt), "model.layer_alias", f"{text}: the class "
                                     "the converted models use") for stmt, text in moved]
        for name, line in sorted(self.quiet_helpers.items()):
            if name not in self.inlined:
                self.result.unmapped.append((
                    line, f"{name}()", "helper function on Keras tensors: converted only "
                    "where a converted model calls it (inlined there)", name))
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
        original = list(body)  # the statements as parsed: their text is known without codegen
        deferred: list[int] = []  # functions using module models' tensors: after them
        for k, stmt in enumerate(body):
            if isinstance(stmt, cst.FunctionDef) and function is None \
                    and self._mentions_framework(stmt):
                if uses_model_tensors(stmt, self._text(stmt)):
                    deferred.append(k)
                    continue
                body[k] = self.function(stmt, module_names, inserts)
            elif isinstance(stmt, cst.If) and function is None and _is_main(stmt) \
                    and isinstance(stmt.body, cst.IndentedBlock):
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
            index=self.index, builders=self.builders, helpers=self.helpers,
            call_values=self.call_values.get(function.name.value, {}) if function else None,
            varying=self.varying.get(function.name.value, set()) if function else None,
            class_args=self.class_args.get(function.name.value, {}) if function else None)
        extractor.stem = self.stem
        extractor.layer_comments = self.layer_comments
        extractor.outer_models = self.outer_models if function is not None else frozenset()
        extractor.regularizer_classes = custom_regularizers.class_names(self.module, self.imports)
        extractor.list_returns = self.list_returns
        extractor.script_names = self.script_names
        extractor.fed = block_feeds(self.fed, function)
        if function is not None:
            extractor.kwonly = frozenset(p.name.value for p in function.params.kwonly_params)
            extractor.annotations = builtin_annotations(function)
        founds = extractor.run(body)
        inlined = {n for n in extractor.inlined}
        if founds:
            self.inlined |= inlined
            for name in sorted(inlined):
                self.result.changes.append((self.line(self.helpers[name])
                                            if name in self.helpers else 0,
                                            "model.helper", f"helper {name}() inlined"))
        returned = _returned_model(body, founds) if function is not None else None
        if function is not None and not founds and _is_helper(function) \
                and not self._builds_model(function):
            if extractor.errors or extractor.eager:  # a helper on tensors: converted where
                # it is inlined
                self.quiet_helpers[function.name.value] = self.line(function)
            extractor.errors = []
        self.result.warnings.extend(extractor.warnings)
        for line, what, reason in extractor.errors:
            self.result.unmapped.append((line, what, reason, function.name.value if function else ""))
        replace: dict[int, cst.BaseStatement] = {}
        remove: set[int] = set()
        classes_at: dict[int, list[cst.BaseStatement]] = {}
        failed: set[int] = set()  # ids of models whose class could not be generated
        for found in founds:
            ir = found.ir
            ir.class_name = self._unique(ir.class_name)
            mark_index_inputs(ir, self.index_layers)
            gen = _without_failed_submodels(ir, failed) or generate(ir, self.lazy_layers, self._unique,
                                                                   self.mask_layers)
            qual = function.name.value if function else ir.class_name
            for line, msg in gen.warnings:
                self.result.warnings.append((line, msg))
            if not gen.code:
                failed.add(id(ir))
                for line, keras, reason in gen.unmapped:
                    self.result.unmapped.append((line, keras, reason, qual))
                stmt = body[found.at]
                note = f"model `{ir.var or ir.class_name}` not converted: " + "; ".join(
                    r for _, _, r in gen.unmapped[:3])
                if isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                    body[found.at] = stmt.with_changes(
                        leading_lines=[*stmt.leading_lines, _todo(note)])
                continue
            for line, keras, reason in gen.unmapped:
                self.result.unmapped.append((line, keras, reason, ir.class_name))
            self.result.changes.extend(gen.changes)
            self.result.changes.append((ir.line, f"model.{ir.kind}",
                                        f"{ir.kind} model -> class {ir.class_name}"))
            if gen.lazy and not gen.sized:
                self.result.warnings.append((ir.line, f"{ir.class_name}: some input sizes are "
                                             "unknown statically; Lazy modules used"))
            elif gen.sized:
                self.result.changes.append((ir.line, "model.lazy_sizes", f"{ir.class_name}: "
                                            "Lazy modules sized by a dry call in __init__"))
                self.result.sized_layers += gen.sized_layers
            self.result.mask_readers += gen.mask_readers
            self.result.changes += signature_changes(ir)
            ir.regularized = gen.regularized
            ir.masked_output = gen.masked_output
            self.result.converted.append(ir)
            self.passed_classes |= any(p.annotation == PASSED for p in ir.params)
            self.result.recipes.append(self._recipe(found, body, function, params))
            cls = self._placeholder(gen.code)
            first = min(found.owned)
            classes_at.setdefault(first, []).extend(
                [*(self._placeholder(text) for text in gen.blocks), cls])
            replace[found.at] = _instantiation(found)
            replace |= {k: stmt for k, stmt in found.rewritten.items() if k not in replace}
            remove |= found.owned - {found.at}
        self.result.warnings += shared_layer_warnings(
            [f.ir for f in founds if id(f.ir) not in failed])
        if function is not None and returned is not None and id(returned) not in failed:
            # later models may call it as a layer (``block(64)(x)``): only a converted one
            self.builders[function.name.value] = returned
        converted = {f.ir.var for f in founds if f.ir.var and id(f.ir) not in failed}
        for k in deferred:  # the module's models are converted now (views.py reads them)
            fn = body[k]
            assert isinstance(fn, cst.FunctionDef)
            self.outer_models = outer_models(fn, converted, self.module)
            try:
                body[k] = self.function(fn, module_names, inserts)
            finally:
                self.outer_models = frozenset()
        remove = _still_needed(body, remove, set(replace),
                               lambda k: self._names_read(original[k]))
        for found in founds:  # made after the adds (extract._built_after): `var = Sequential()`
            first, var = min(found.owned), found.ir.var  # is dead, the class rebinds var first
            if var and found.at > first and first not in remove and id(found.ir) not in failed \
                    and _names_bound(body[first]) == {var} and not any(
                        var in self._names_read(original[k]) for k in range(first + 1, found.at)
                        if k not in remove):
                remove.add(first)
        new_body: list[cst.BaseStatement] = []
        passes: list[cst.BaseStatement] = []  # resolved branches that were empty
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
            if k in extractor.resolved and k not in replace:
                resolved = _resolved_branch(stmt, extractor.resolved[k])
                if not extractor.resolved[k] and not _comments(resolved[0]):
                    passes.append(resolved[0])
                new_body += resolved
                continue
            new_body.append(replace.get(k, stmt))
        if passes and len(new_body) > len(passes):
            new_body = [s for s in new_body if not any(s is p for p in passes)]
        if function is not None and founds:
            local = {n for n in inlined if n not in self.helpers}
            new_body = self._drop_inlined(new_body, local)
        return inserts, new_body

    def _drop_inlined(self, body: list[cst.BaseStatement], names: set[str]
                      ) -> list[cst.BaseStatement]:
        """Helper definitions nothing calls any more (their code lives in the classes).

        Repeated until nothing more goes: a helper that only a dropped helper called (nested
        inlining) is dead too, and left behind it would keep the script on Keras."""
        while True:
            defs = {k: s.name.value for k, s in enumerate(body)
                    if isinstance(s, cst.FunctionDef) and s.name.value in names}
            if not defs:
                return body
            text = "\n".join(cst.Module([]).code_for_node(s) if not _marker_of(s) else ""
                             for s in body)
            drop = {k for k, n in defs.items()
                    if len(re.findall(rf"\b{re.escape(n)}\b", text)) == 1}
            if not drop:
                return body
            for k in sorted(drop):
                self._note_dropped(defs[k], body[k])
            body = [s for k, s in enumerate(body) if k not in drop]

    def _note_dropped(self, name: str, fn: cst.BaseStatement) -> None:
        """One change line per helper: its "inlined" line says the definition went too."""
        inlined = f"helper {name}() inlined"
        changes = self.result.changes
        text = f"{inlined}, its definition dropped (nothing calls it any more)"
        at = next((k for k, c in enumerate(changes) if c[1:] == ("model.helper", inlined)), None)
        if at is not None:
            changes[at] = (changes[at][0], "model.helper", text)
        else:
            line = self.line(self.helpers.get(name, fn)) or self.line(fn)
            changes.append((line, "model.helper", text))

    def function(self, fn: cst.FunctionDef, module_names: set[str],
                 inserts: list[tuple[cst.BaseStatement, list[cst.BaseStatement]]]
                 ) -> cst.FunctionDef:
        if not isinstance(fn.body, cst.IndentedBlock):
            return fn
        params: dict[str, str | None] = {}
        for p in [*fn.params.params, *fn.params.kwonly_params]:
            params[p.name.value] = (cst.Module([]).code_for_node(p.default)
                                    if p.default is not None else None)
        inner_inserts, inner = self.block(list(fn.body.body), fn, params, module_names)
        new_fn = fn.with_changes(body=fn.body.with_changes(body=inner))
        built = self.builders.get(fn.name.value)
        if built is not None and fn.returns is not None and self.imports.resolve(
                fn.returns.annotation) in _MODEL_CLASSES:  # `-> keras.Model`: the class
            new_fn = new_fn.with_changes(returns=cst.Annotation(cst.Name(built.class_name)))
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

    def _placeholder(self, code: str) -> cst.SimpleStatementLine:
        """A marker statement replaced by the class text after codegen (parsing the generated
        class back into libcst would cost as much as parsing the whole file)."""
        marker = f"__k2l_generated_{len(self.result.generated)}__"
        self.result.generated[marker] = code.rstrip("\n")
        return cst.SimpleStatementLine([cst.Expr(cst.Name(marker))])

    def _names_read(self, stmt: cst.CSTNode) -> set[str]:
        """Names an original statement reads, from its ``ast`` twin (no libcst visit)."""
        node = self.index.stmt_ast.get(id(stmt))
        if node is None:
            return set()
        return scopes.outer_reads(node)

    def _text(self, stmt: cst.BaseStatement) -> str | None:
        """The source lines of a parsed statement (None when its ast twin is unknown)."""
        node = self.index.stmt_ast.get(id(stmt))
        if node is None or self.source_lines is None:
            return None
        return "".join(self.source_lines[node.lineno - 1:node.end_lineno])

    def _mentions_framework(self, fn: cst.FunctionDef) -> bool:
        text = self._text(fn)
        return text is None or any(name in text for name in self.framework_names)

    def _builds_model(self, fn: cst.FunctionDef) -> bool:
        node = self.index.stmt_ast.get(id(fn))
        if node is None:
            return True
        text = "".join(self.source_lines[node.lineno - 1:node.end_lineno])
        return re.search(r"\b(Model|Sequential)\(", text) is not None

    def _unique(self, name: str) -> str:
        if name in self.taken_classes:
            name = f"Torch{name}"
        base, n = name, 1
        while name in self.taken_classes:
            n += 1
            name = f"{base}{n}"
        self.taken_classes.add(name)
        return name


SHARED_LAYER_WARNINGS = (
    "{later}: uses the layers {names} of {first} (Keras shares their weights between the two "
    "models); the converted {cls} has its own, untrained by {first}'s training")


def shared_layer_warnings(irs: list[ModelIR]) -> list[tuple[int, str]]:
    """Two models of one block built on the same layer objects (an inference model over a
    trained model's layers, ``encoder_model = Model(encoder_inputs, encoder_states)``):
    each converted class makes its own modules, so the later one does not see what the
    first learns. Models passed in (``passed_in``) and views (``shares``) do share."""
    out: list[tuple[int, str]] = []
    seen: dict[int, ModelIR] = {}
    for ir in irs:
        if ir.shares is not None:
            continue
        mine = [layer for layer in ir.layers if layer.submodel is None and not layer.passed_in]
        firsts: dict[str, list[str]] = {}
        for layer in mine:
            first = seen.get(id(layer))
            if first is not None and first is not ir:
                firsts.setdefault(first.var or first.class_name, []).append(layer.attr)
        for first_name, names in firsts.items():
            out.append((ir.line, SHARED_LAYER_WARNINGS.format(
                later=ir.var or ir.class_name, names=", ".join(sorted(set(names))),
                first=first_name, cls=ir.class_name)))
        for layer in mine:
            seen.setdefault(id(layer), ir)
    return out


def _without_failed_submodels(ir: ModelIR, failed: set[int]) -> Generated | None:
    """A model that uses a submodel left in Keras cannot be generated either (its class
    would name one that does not exist): the reason, or None when every submodel converted."""
    for layer in ir.layers:
        if layer.submodel is not None and id(layer.submodel) in failed:
            return Generated("", unmapped=[(layer.line, layer.keras_name,
                                            f"submodel {layer.attr} was not converted")])
    if ir.shares is not None and id(ir.shares) in failed:  # a view over it: its modules
        return Generated("", unmapped=[(ir.line, "keras.Model", f"{ir.params[0].name} was not "
                                        "converted: the model over its tensors stays Keras")])
    return None


def _resolved_branch(stmt: cst.BaseStatement, branch: list[cst.BaseStatement]
                     ) -> list[cst.BaseStatement]:
    """``if K.image_data_format() == "channels_first": ... else: ...`` -> the channels-last
    branch (torch code has no backend data format to ask; the report says it), taking the
    ``if``'s leading comments; an empty branch is a ``pass`` the caller drops where it can."""
    lead = list(stmt.leading_lines) if isinstance(
        stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)) else []
    if not branch:
        return [cst.SimpleStatementLine([cst.Pass()], leading_lines=lead)]
    first = branch[0]
    if isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        first = first.with_changes(leading_lines=[*lead, *first.leading_lines])
    return [first, *branch[1:]]


def _comments(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)) and any(
        line.comment is not None for line in stmt.leading_lines)


def _is_helper(fn: cst.FunctionDef) -> bool:
    """A function with parameters that ends returning something: maybe a tensor helper."""
    if not isinstance(fn.body, cst.IndentedBlock) or not fn.body.body:
        return False
    last = fn.body.body[-1]
    has_params = bool(fn.params.params or fn.params.posonly_params)
    return has_params and isinstance(last, cst.SimpleStatementLine) and isinstance(
        last.body[0], cst.Return) and last.body[0].value is not None


def _returned_model(body: list[cst.BaseStatement], founds: list[Found]) -> ModelIR | None:
    """The model a builder function returns (``return Model(...)`` or ``return model``)."""
    for found in founds:
        if found.is_return:
            return found.ir
    last = body[-1] if body else None
    if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[0], cst.Return):
        value = last.body[0].value
        if isinstance(value, cst.Name):
            return next((f.ir for f in founds if f.ir.var == value.value), None)
    return None


def _still_needed(body: list[cst.BaseStatement], remove: set[int], replaced: set[int],
                  names_read: Callable[[int], set[str]]) -> set[int]:
    """Drop from ``remove`` the statements whose names the remaining code still reads
    (e.g. an ``Input`` shared with a second, unconverted model): removing them would leave
    an undefined name behind."""
    if not remove:
        return remove
    remove = set(remove)
    while True:
        read: set[str] = set()
        for k in range(len(body)):
            if k not in remove and k not in replaced:
                read |= names_read(k)
        keep = {k for k in remove if any(  # read later, before the code rebinds it
            read_before_rebound(body, k, n, remove | replaced)
            for n in _names_bound(body[k]) & read)}
        if not keep:
            return remove
        remove -= keep


def _names_bound(stmt: cst.BaseStatement) -> set[str]:
    if isinstance(stmt, (cst.For, cst.If)) or (isinstance(stmt, cst.SimpleStatementLine)
                                                and any(isinstance(small, cst.Expr)
                                                        for small in stmt.body)):
        # a loop of appends, `blocks.append(...)`, a resolved `image_data_format()` branch
        return bound_names(stmt)
    return assigned_names(stmt, augmented=False)


def _marker_of(stmt: cst.BaseStatement) -> str:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Name):
            return small.value.value
    return ""


def _spaced(stmt: cst.BaseStatement) -> cst.BaseStatement:
    """Two blank lines before a top-level definition or the statement after one (PEP 8)."""
    if not isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        return stmt
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
                   lambda_converter: LambdaConverter | None = None,
                   source: str | None = None, path: str = "",
                   lazy_layers: dict[str, bool] | None = None,
                   mask_layers: dict[str, CustomMask] | None = None) -> ModelsResult:
    """``source`` must be the text of ``module`` (for line numbers); regenerated if omitted.
    ``lazy_layers``: custom layers with nn.Lazy sub-layers (-> whether they have keras_init);
    ``mask_layers``: how custom layers make or read Keras's masks."""
    text = source if source is not None else module.code
    converter = ModelConverter(module, imports, env, set(custom_layers), lambda_converter,
                               text, path)
    converter.lazy_layers = dict(lazy_layers or {})
    converter.mask_layers = dict(mask_layers or {})
    return converter.run()
