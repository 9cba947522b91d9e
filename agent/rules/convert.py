"""One Python source in, converted source plus records out. Never raises on user code.

Order: resolve imports → custom layers/models classes (agent.rules.classes.transform, when present)
→ model definitions → training calls → fix imports → list what Keras/TF use is left.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import libcst as cst

from agent.records import Change, KerasDependency, Unmapped, Warning_
from agent.rules import fix_imports, parsed
from agent.rules.classes.layer_masks import READS_MASK, CustomMask
from agent.rules.collections_scope import fewer_collections
from agent.rules.data_format import WARNING as FORMAT_WARNING
from agent.rules.data_format import resolve_format_tests
from agent.rules.deep_stack import DEEPEST, deepest, on_deep_stack
from agent.rules.imports import ImportTable, collect_imports
from agent.rules.lines import LineIndex
from agent.rules.models.extract import LambdaConverter
from agent.rules.models.graph import ModelIR, Tensor
from agent.rules.models.index_inputs import embedding_layers
from agent.rules.models.lazy import SIZED_BY_DRY_CALL
from agent.rules.models.shapes import Shape
from agent.rules.models.transform import ModelsResult, Recipe, convert_models
from agent.rules.ops.functions import (
    candidates,
    convert_functions,
    data_functions,
    named_again,
    pipeline_functions,
    uses_framework,
)
from agent.rules.ops.shape_ints import tensor_shape_values
from agent.rules.six_moves import without_six_moves
from agent.rules.source_slices import SourceSlices
from agent.rules.training.custom_regularizers import convert_classes as convert_regularizer_classes
from agent.rules.training.loss_classes import convert_loss_classes
from agent.rules.values import code_of, module_constants
from agent.rules.wrap import wrap_new_lines

if TYPE_CHECKING:
    from agent.rules.training.metric_classes import MetricClasses


@dataclass
class Conversion:
    source: str
    changes: list[Change] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    keras_deps: list[KerasDependency] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # generated class names
    recipes: list[Recipe] = field(default_factory=list)
    error: str = ""  # set when the file could not be parsed

    @property
    def changed(self) -> bool:
        return bool(self.changes)


NESTED_TOO_DEEP = ("nested more deeply than Python compiles (an expression of thousands of "
                   "chained terms or brackets): left as written")  # Python 3.11: ~3,000 levels
_TRAINING_HINT = re.compile(r"\.(compile|fit|evaluate|predict|save|summary|load_weights|"
                            r"save_weights)\(|from_tensor_slices|Callback|Sequence|"
                            r"to_categorical|load_model|get_weights|set_weights|"
                            r"(kernel|bias|embeddings|gamma|beta|moving_mean|moving_variance)"
                            r"\.numpy\(")


def _lambda_converter() -> Callable[[ImportTable], LambdaConverter] | None:
    try:
        from agent.rules.ops.rewrite import lambda_converter
    except ImportError:  # the op table is optional at this stage
        return None
    return lambda_converter


def _metric_classes() -> Callable[[cst.Module, ImportTable], MetricClasses] | None:
    try:
        from agent.rules.training.metric_classes import convert_metric_classes
    except ImportError:  # the training rules are optional at this stage
        return None
    return convert_metric_classes


def _convert_metric_classes(module: cst.Module, mres: ModelsResult,
                            convert: Callable[[cst.Module, ImportTable], MetricClasses],
                            imports: ImportTable, source: str, out: Conversion, path: str
                            ) -> cst.Module:
    """keras.metrics.Metric subclasses → torchmetrics.Metric (after the models and training
    code, which only read their names)."""
    done = convert(module, imports)
    _swap(mres, module, done.module)

    def line(cls: cst.ClassDef) -> int:
        m = re.search(rf"^class {re.escape(cls.name.value)}\b", source, re.MULTILINE)
        return source.count("\n", 0, m.start()) + 1 if m else 0

    out.changes += [Change(line(cls), "training.metric_class", msg) for cls, msg in done.changes]
    out.unmapped += [Unmapped(path, line(cls), "keras.metrics.Metric",
                              f"Metric subclass {cls.name.value} not converted: {why}")
                     for cls, why in done.kept]
    return done.module


def _torch_modules(module: cst.Module) -> list[str]:
    """Top-level ``nn.Module`` subclasses: usable as layers inside converted models."""
    out = []
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and any(
                code_of(b.value).endswith(("nn.Module", "LightningModule")) for b in stmt.bases):
            out.append(stmt.name.value)
    return out


def _subclassed_ir(name: str, output: Shape | None = None, indices: bool = False,
                   masked: bool = False) -> ModelIR:
    """What the training rules need of a converted Model subclass: its name, one output
    (with its shape when forward's was inferred: metrics need the number of classes),
    whether its input holds indices (forward looks it up in an Embedding: fit's data is
    then integer, as Keras's Embedding casts it) and whether forward stores its output's
    Keras mask (``masked``: the loss skips those steps)."""
    return ModelIR(name, "", "Subclassed", 0, [Tensor("x", None, "long" if indices else "float")],
                   [], [], [Tensor("output", output)], masked_output=masked)


# a custom layer's lazy-size warnings that a model's dry call answers
_SIZED_BY_DRY_CALL = (*SIZED_BY_DRY_CALL, "input shape unknown statically: nn.Lazy modules for")
_CUSTOM_LOSS = re.compile(r"custom loss (\w+)\(y_true, y_pred\) called on torch tensors")


def _framework_free(module: cst.Module, name: str, imports: ImportTable) -> bool:
    """The top-level function ``name``, and the script's functions it calls, use no Keras/TF
    name any more (the op table converted them)."""
    functions: dict[str, cst.FunctionDef | cst.ClassDef] = {
        s.name.value: s for s in module.body if isinstance(s, (cst.FunctionDef, cst.ClassDef))}
    todo, seen = [name], set()  # a class: a converted Loss subclass (loss_classes.py)
    while todo:
        fn = functions.get(todo.pop())
        if fn is None:
            return False
        if fn.name.value in seen:
            continue
        seen.add(fn.name.value)
        if uses_framework(fn, imports):
            return False
        calls = {n.value for n in _called_names(fn)}
        todo += [c for c in calls if c in functions]
    return True


def _called_names(fn: cst.FunctionDef | cst.ClassDef) -> list[cst.Name]:
    class V(cst.CSTVisitor):
        found: list[cst.Name] = []

        def visit_Call(self, call: cst.Call) -> None:
            if isinstance(call.func, cst.Name):
                self.found.append(call.func)

    v = V()
    v.found = []
    fn.visit(v)
    return v.found


def _functional_subclasses(module: cst.Module, imports: ImportTable) -> set[str]:
    """``class CustomModel(keras.Model)`` with neither ``__init__`` nor ``call`` (only
    ``train_step`` and friends): built as ``CustomModel(inputs, outputs)``, a functional
    model whose class adds training methods."""
    out: set[str] = set()
    for stmt in module.body:
        if not (isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock)
                and any(imports.resolve(b.value) == "keras.Model" for b in stmt.bases)):
            continue
        methods = {s.name.value for s in stmt.body.body if isinstance(s, cst.FunctionDef)}
        if not methods & {"__init__", "call"}:
            out.add(stmt.name.value)
    return out


def _has_keras_class(module: cst.Module, imports: ImportTable) -> bool:
    """Cheap guard: the class transformer needs metadata, worth it only for Keras classes."""
    return any(
        isinstance(stmt, cst.ClassDef)
        and any((imports.resolve(b.value) or "").startswith("keras.") for b in stmt.bases)
        for stmt in module.body
    )


def _sized_by_models(warnings: list[Warning_], lazy_layers: dict[str, bool],
                     sized: list[str], source: str) -> list[Warning_]:
    """A custom layer's lazy-size warnings, unless every instance the file makes is in a
    converted model whose dry call sizes it (and whose keras_init() call initializes it)."""
    done = {name for name in lazy_layers
            if sized.count(name) == len(re.findall(rf"(?<!class )\b{re.escape(name)}\(", source))}
    return [w for w in warnings
            if not (w.message.split(":", 1)[0] in done
                    and any(t in w.message for t in _SIZED_BY_DRY_CALL))]


MADE_AFTER_OPTIMIZER_WARNINGS = (
    "the modules build() makes on the first call are made after the optimizer: no converted "
    "model calls this layer before the Trainer makes it (the input size comes from the data), "
    "so it does not update their parameters; call the model on one batch before training",)


def _made_after_optimizer(layers: set[str], sized: list[str], source: str) -> list[Warning_]:
    """A custom layer whose build() makes modules on the first call, where some instance is
    in no converted model whose dry call makes them before its optimizer."""
    return [Warning_(_def_line(source, name), f"{name}: {MADE_AFTER_OPTIMIZER_WARNINGS[0]}")
            for name in sorted(layers)
            if sized.count(name) != len(re.findall(rf"(?<!class )\b{re.escape(name)}\(",
                                                    source))]


def _masked_by_models(warnings: list[Warning_], readers: list[str], source: str
                      ) -> list[Warning_]:
    """A custom layer's "call() reads mask" warning, unless every instance the file makes is
    in a converted model that passes it the mask Keras would."""
    done = {name for name in set(readers)
            if readers.count(name) == len(re.findall(rf"(?<!class )\b{re.escape(name)}\(", source))}
    return [w for w in warnings
            if not (w.message.split(":", 1)[0] in done and READS_MASK in w.message)]


def _swap(mres: ModelsResult, module: cst.Module, new: cst.Module) -> cst.Module:
    """``new`` replaces ``module``; while ``module`` is still the models' own view
    (``mres.module``), that view follows, so its code and line index stay one tree."""
    if module is mres.module:
        mres.module = new
    return new


def _def_line(source: str, name: str) -> int:
    m = re.search(rf"^(?:def|class) {re.escape(name)}\b", source, re.MULTILINE)
    return source.count("\n", 0, m.start()) + 1 if m else 0


def _script_calls(code: str, source: str, imports: ImportTable, out: Conversion,
                  path: str, left: bool | None = None) -> str:
    """Seeding/session/plotting calls and config getters once no Keras model is left."""
    from agent.rules.training.script_calls import rewrite_script_calls
    from agent.rules.training.utilities import keras_models_left

    try:
        left = keras_models_left(parsed.parse(code), imports) if left is None else left
    except SyntaxError:
        return code
    done = rewrite_script_calls(code, imports, left, source)
    out.changes += [Change(line, rule, msg) for line, rule, msg in done.changes]
    out.warnings += [Warning_(line, msg) for line, msg in done.warnings]
    out.unmapped += [Unmapped(path, line, name, why) for line, name, why in done.kept]
    return _precision(done.code, source, imports, left, out)


def _precision(code: str, source: str, imports: ImportTable, left: bool, out: Conversion
               ) -> str:
    """Keras's global mixed-precision policy → the Trainer's precision (or why not)."""
    from agent.rules.training.precision import rewrite_precision

    done = rewrite_precision(code, imports, left, source)
    out.changes += [Change(line, rule, msg) for line, rule, msg in done.changes]
    out.warnings += [Warning_(line, msg) for line, msg in done.warnings]
    return done.code


_KERAS_GRAPH = ("keras.layers.", "keras.Model", "keras.Sequential", "keras.Input",
                "keras.models.", "keras.applications.")


def _keras_builders(module: cst.Module, imports: ImportTable) -> set[str]:
    """Top-level functions still building Keras layers or models: the model rules reported
    them (an op beside a layer call there is part of a graph, not data code)."""
    class Uses(cst.CSTVisitor):
        found = False

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            qual = imports.resolve(node) or ""
            self.found = self.found or qual.startswith(_KERAS_GRAPH)
            return not self.found

        def visit_Name(self, node: cst.Name) -> None:
            qual = imports.resolve(node) or ""
            self.found = self.found or qual.startswith(_KERAS_GRAPH)

    out: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            uses = Uses()
            stmt.visit(uses)
            if uses.found:
                out.add(stmt.name.value)
    return out


_IMPORT_LINE = re.compile(r"\s*(from|import)\b")


def _reads_framework(code: str, names: Iterable[str]) -> bool:
    r"""Whether a line that is no import reads ``name.`` for one of ``names``: what
    ``^(?!\s*(from|import)\b).*\b(names)\.`` finds in multiline mode, the regex led by the
    names (the engine scans for their first letters instead of backtracking over every
    line) and the word boundary checked at each place it matches."""
    found = re.compile("(?:" + "|".join(re.escape(n) for n in names) + r")\.")
    pos = 0
    while (m := found.search(code, pos)) is not None:
        at = m.start()
        if _is_word(code[at - 1] if at else " ") != _is_word(code[at]) \
                and not _IMPORT_LINE.match(code, code.rfind("\n", 0, at) + 1):
            return True
        pos = at + 1
    return False


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"  # what the regex engine's \w matches


def _data_statements(code: str, original: cst.Module, source: str, imports: ImportTable,
                     out: Conversion, path: str) -> str:
    """Module-level statements and plain functions, statement by statement, once every
    other rule is done (tf.data and Keras utilities replaced, models converted)."""
    if not imports.names or not _reads_framework(code, imports.names):
        return code
    from agent.rules.ops.statements import convert_statements

    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return code
    skip = pipeline_functions(original) | _keras_builders(module, imports)
    try:
        from agent.rules.training.utilities import runtime_copies
    except ImportError:  # the training rules are optional at this stage
        pass
    else:
        copies = runtime_copies(module)
        skip |= copies
        if copies & imports.names.keys():  # ``StringLookup`` imported, then its runtime class
            imports = replace(imports, names={k: v for k, v in imports.names.items()
                                              if k not in copies})  # defined: the name reads it
    done = convert_statements(module, imports, skip, source)
    out.changes += [Change(line, rule, msg) for line, rule, msg in done.changes]
    seen = {u.line for u in out.unmapped}
    out.unmapped += [Unmapped(path, line, name, why) for line, name, why in done.unmapped
                     if line not in seen]
    return done.module.code if done.changes else code


def convert_source(source: str, path: str = "<string>", main_guard: bool = False
                   ) -> Conversion:
    """The converted source and its records; a ``tf.distribute`` strategy is taken out first
    (models built under ``with strategy.scope():`` are then at the level the model rules
    read), unless a Keras model is left either way. ``main_guard``: the final layout pass
    (``with_main_guard``)."""
    from agent.rules.training.adapted_norms import with_adapted_norms
    from agent.rules.training.backend_functions import with_backend_functions
    from agent.rules.training.branch_adds import with_branch_adds
    from agent.rules.training.initializer_names import with_named_initializers
    from agent.rules.training.layer_lists import with_layer_lists
    from agent.rules.training.strategies import without_strategies

    def rules(code: str, where: str) -> Conversion:  # the pre-rewrites, innermost last
        return with_named_initializers(code, where, lambda c, w: with_backend_functions(
            c, w, lambda c2, w2: with_layer_lists(c2, w2, lambda c3, w3: with_branch_adds(
                c3, w3, _convert_source))))

    def convert() -> Conversion:
        conv = without_strategies(
            source, path, lambda code, where: with_adapted_norms(code, where, rules))
        return with_main_guard(conv) if main_guard else conv

    try:
        tree = parsed.parse(source)  # what Python itself cannot compile, the rules do not try
    except (RecursionError, MemoryError):
        return Conversion(source, error=NESTED_TOO_DEEP)
    except SyntaxError as exc:
        if "too many nested" in str(exc.msg):
            return Conversion(source, error=f"syntax error at line {exc.lineno}: {exc.msg} "
                                            "(Python cannot compile this file)")
    except ValueError:  # null bytes: the libcst parser below reports them
        pass
    else:
        depth, line = deepest(tree)
        if depth:
            return Conversion(source, error=f"line {line}: an expression nested {depth} levels "
                                            f"deep (the rules follow {DEEPEST}): left as written")
    try:
        with fewer_collections():
            try:
                return on_deep_stack(convert)
            finally:
                parsed.forget()  # before the collector's threshold comes back down
    except RecursionError:
        return Conversion(source, error=NESTED_TOO_DEEP)


def with_main_guard(conv: Conversion) -> Conversion:
    """A file the rules converted gets its script statements under one ``if __name__ ==
    "__main__":`` block (agent/rules/layout/main_guard.py); the lines of what is left of
    Keras/TF follow the statements that moved."""
    from agent.rules.layout.main_guard import guard_script

    if conv.error or not conv.changed:
        return conv
    layout = guard_script(conv.source)
    if layout.code != conv.source:
        conv.source = layout.code
        conv.keras_deps = sorted((replace(d, line=layout.line(d.line)) for d in conv.keras_deps),
                                 key=lambda d: d.line)
    return conv


def _code_of(module: cst.Module, original: cst.Module, source: str) -> str:
    """``module.code`` of a module the classes rules edited, the statements they left as
    parsed taken from ``source`` (generating a whole module costs about half a parse)."""
    return SourceSlices(original, source, LineIndex(original, source).stmt_ast).code(module)


def _convert_source(source: str, path: str) -> Conversion:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return Conversion(source, error=f"syntax error at line {exc.raw_line}: {exc.message}")
    imports = collect_imports(module)
    if not imports.names:
        return Conversion(source)
    env = module_constants(module, imports, source)  # before the table learns the subclasses
    imports.subclasses = _functional_subclasses(module, imports)
    metric_classes = _metric_classes()
    if metric_classes is not None:  # compile(metrics=[MyMetric()]) reads their names
        imports.metric_classes = metric_classes(module, imports).names
    original = module
    out = Conversion(source)
    custom: list[str] = []
    lazy_layers: dict[str, bool] = {}
    first_call: set[str] = set()  # custom layers whose build() makes modules on the first call
    mask_layers: dict[str, CustomMask] = {}
    mask_readers: list[str] = []  # custom layer instances given Keras's masks
    subclassed: list[ModelIR] = []
    factory = _lambda_converter()
    convert_lambda = factory(imports) if factory is not None else None
    try:
        from agent.rules.classes import transform as classes
    except ImportError:
        classes = None  # type: ignore[assignment]
    if classes is not None and _has_keras_class(module, imports):
        cres = classes.convert_classes(module, imports, path, source)
        module = cres.module
        custom = list(cres.custom_layers)
        lazy_layers = cres.lazy_layers
        first_call = cres.first_call_layers
        mask_layers = cres.mask_layers
        mask_readers = cres.mask_readers
        out.changes += cres.changes
        out.warnings += cres.warnings
        out.unmapped += cres.unmapped
        indexed = embedding_layers(module, imports)  # forward looks its input up: indices
        subclassed = [_subclassed_ir(name, cres.outputs.get(name), name in indexed,
                                     name in cres.masked_outputs)
                      for name in cres.models
                      if name not in imports.subclasses]  # those fold into a functional model
    custom += _torch_modules(module)  # e.g. a layer the LLM stage has already written
    mres = convert_models(module, imports, env, custom, convert_lambda,
                          source if module is original else _code_of(module, original, source),
                          path, lazy_layers, mask_layers)
    module = mres.module
    out.warnings = _sized_by_models(out.warnings, lazy_layers, mres.sized_layers, source)
    out.warnings += _made_after_optimizer(first_call, mres.sized_layers, source)
    out.warnings = _masked_by_models(out.warnings, mask_readers + mres.mask_readers, source)
    out.changes += [Change(line, rule, msg) for line, rule, msg in mres.changes]
    out.warnings += [Warning_(line, msg) for line, msg in mres.warnings]
    out.unmapped += [Unmapped(path, line, keras, reason, qual)
                     for line, keras, reason, qual in mres.unmapped]
    out.models = [ir.class_name for ir in mres.converted]
    out.recipes = list(mres.recipes) + [
        # subclassed models: both sides built with the constructor's defaults
        Recipe(name, "model", "", f"model = {name}()\n", needs_args=False)
        for name in (m.class_name for m in subclassed)]
    try:
        from agent.rules.training import transform as training
    except ImportError:
        training = None  # type: ignore[assignment]
    trainable = mres.converted + subclassed
    if training is not None and trainable and _TRAINING_HINT.search(source):
        module = mres.materialize()
        line_of = mres.index.deep_line if mres.index is not None else None
        tres = training.convert_training(module, imports, trainable, path, line_of)
        module = tres.module
        out.changes += tres.changes
        out.warnings += tres.warnings
        out.unmapped += tres.unmapped
        steps = {f"{cls}.{step}" for cls in tres.bridged for step in ("train_step", "test_step")}
        bridged = tuple(f"{cls}." for cls in tres.bridged)  # their tape helpers run too
        out.unmapped = [u for u in out.unmapped
                        if u.qualname not in steps and u.keras_name not in steps
                        and not (u.qualname.startswith(bridged)
                                 and u.reason.startswith("custom training step"))]
    regularized, regs = convert_regularizer_classes(module, imports)  # after the models
    if regs:
        module = _swap(mres, module, regularized)
        out.changes += [Change(_def_line(source, name), "regularizer.class",
                               f"{name}: Keras Regularizer -> plain class of torch ops")
                        for name in regs]
    losses_done, losses, kept_losses = convert_loss_classes(module, imports)
    if losses:
        module = _swap(mres, module, losses_done)
    out.changes += [Change(_def_line(source, name), "training.loss_class",
                           f"{name}: keras.losses.Loss -> plain class (Keras's __call__)")
                    for name in losses]
    out.unmapped += [Unmapped(path, _def_line(source, name), "keras.losses.Loss",
                              f"Loss subclass {name} not converted: {why}")
                     for name, why in kept_losses]
    if metric_classes is not None and "Metric" in source:
        module = _convert_metric_classes(module, mres, metric_classes, imports, source, out,
                                         path)
    functions = candidates(original, imports, source)
    if named_again(functions, source):  # data functions: by statement in _data_statements
        data = data_functions(original)
        functions = [f for f in functions if f not in data]
    if functions:  # tensor functions (Lambda targets, sampling): whole, with the op table
        done = convert_functions(module, imports, functions)
        module = _swap(mres, module, done.module)
        out.changes += [Change(_def_line(source, name), "ops.function",
                               f"{name}: tf/Keras ops -> torch") for name in done.names]
    kept: list[Warning_] = []
    for w in out.warnings:  # a custom loss whose ops all converted: a change, not a warning
        m = _CUSTOM_LOSS.match(w.message)
        if m and _framework_free(module, m.group(1), imports):
            out.changes.append(Change(w.line, "training.custom_loss", f"custom loss "
                                      f"{m.group(1)}(y_true, y_pred): its ops are torch ops"))
        else:
            kept.append(w)
    out.warnings = kept
    code = mres.code() if module is mres.module else module.code
    try:
        from agent.rules.training.utilities import inline_utilities
    except ImportError:  # the training rules are optional at this stage
        inline_utilities = None  # type: ignore[assignment]
    if inline_utilities is not None:
        from agent.rules.training.data_layers import rewrite_data_layers

        layers_on_data = rewrite_data_layers(code, imports, source)
        code = layers_on_data.code
        out.changes += [Change(line, rule, msg) for line, rule, msg in layers_on_data.changes]
        inlined = inline_utilities(code, imports)
        code = inlined.code or code
        out.changes += [Change(line, rule, msg) for line, rule, msg in inlined.changes]
        out.unmapped += [Unmapped(path, line, keras, why) for line, keras, why in inlined.kept]
        code = _script_calls(code, source, imports, out, path,
                             inlined.left if inlined.code is code else None)
    code = _data_statements(code, original, source, imports, out, path)
    if inline_utilities is not None:
        from agent.rules.training.utilities import (
            copy_missing_runtime,
            explain_deps,
            explain_kept,
        )

        out.unmapped = explain_kept(out.unmapped, inlined.tf_data)
        code = copy_missing_runtime(code)
    code = tensor_shape_values(code)
    code, resolved = resolve_format_tests(code, imports, source)  # in code kept as written
    out.warnings += [Warning_(line, FORMAT_WARNING) for line in resolved]
    if code != source:
        code = wrap_new_lines(code, source)
    if not out.changes and not path.endswith("__init__.py"):  # an __init__ may re-export them
        out.changes += [Change(line, "imports.unused", f"unused import of {name} removed")
                        for line, name in fix_imports.unused_framework_imports(code)]
    if out.changes:  # Keras 2 brought six; a converted script no longer has it
        moved = without_six_moves(code)
        code = moved.code
        out.changes += [Change(line, "imports.six_moves", f"six.moves import -> {what}")
                        for line, what in moved.lines]
    out.source, out.keras_deps = fix_imports.finalize(code, fix_imports=bool(out.changes))
    if inline_utilities is not None:
        out.keras_deps = explain_deps(out.keras_deps, inlined.tf_data)
    out.changes.sort(key=lambda c: c.line)
    out.unmapped.sort(key=lambda u: u.line)
    return out
