"""One Python source in, converted source plus records out. Never raises on user code.

Order: resolve imports → custom layers/models classes (agent.rules.classes, when present)
→ model definitions → training calls → fix imports → list what Keras/TF use is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from agent.records import Change, KerasDependency, Unmapped, Warning_
from agent.rules import fix_imports
from agent.rules.imports import collect_imports
from agent.rules.models import Recipe, convert_models
from agent.rules.values import module_constants


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


def _lambda_converter():  # type: ignore[no-untyped-def]
    try:
        from agent.rules.ops import lambda_converter
    except ImportError:  # the op table is optional at this stage
        return None
    return lambda_converter


def convert_source(source: str, path: str = "<string>") -> Conversion:
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return Conversion(source, error=f"syntax error at line {exc.raw_line}: {exc.message}")
    imports = collect_imports(module)
    if not imports.names:
        return Conversion(source)
    env = module_constants(module)
    out = Conversion(source)
    custom: list[str] = []
    factory = _lambda_converter()
    convert_lambda = factory(imports) if factory is not None else None
    try:
        from agent.rules import classes
    except ImportError:
        classes = None  # type: ignore[assignment]
    if classes is not None:
        cres = classes.convert_classes(module, imports, path)
        module = cres.module
        custom = list(cres.custom_layers)
        out.changes += cres.changes
        out.warnings += cres.warnings
        out.unmapped += cres.unmapped
    mres = convert_models(module, imports, env, custom, convert_lambda)
    module = mres.module
    out.changes += [Change(line, rule, msg) for line, rule, msg in mres.changes]
    out.warnings += [Warning_(line, msg) for line, msg in mres.warnings]
    out.unmapped += [Unmapped(path, line, keras, reason, qual)
                     for line, keras, reason, qual in mres.unmapped]
    out.models = [ir.class_name for ir in mres.converted]
    out.recipes = list(mres.recipes)
    try:
        from agent.rules import training
    except ImportError:
        training = None  # type: ignore[assignment]
    if training is not None and mres.converted:
        tres = training.convert_training(module, imports, mres.converted, path)
        module = tres.module
        out.changes += tres.changes
        out.warnings += tres.warnings
        out.unmapped += tres.unmapped
    if out.changes:
        module = fix_imports.fix(module, imports)
    out.source = module.code
    out.keras_deps = keras_left(module)
    out.changes.sort(key=lambda c: c.line)
    out.unmapped.sort(key=lambda u: u.line)
    return out


def keras_left(module: cst.Module) -> list[KerasDependency]:
    """Every Keras/TensorFlow reference still in the output, with its line."""
    imports = collect_imports(module)
    if not imports.names:
        return []
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    found: list[KerasDependency] = []
    seen: set[tuple[int, str]] = set()

    class Visitor(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> bool:
            name = imports.resolve(node)
            if name is not None:
                line = positions[node].start.line
                if (line, name) not in seen:
                    seen.add((line, name))
                    found.append(KerasDependency(line, name, _why(name)))
                return False
            return True

        def visit_Name(self, node: cst.Name) -> None:
            name = imports.resolve(node)
            if name is not None:
                line = positions[node].start.line
                if (line, name) not in seen:
                    seen.add((line, name))
                    found.append(KerasDependency(line, name, _why(name)))

        def visit_Import(self, node: cst.Import) -> bool:
            return False

        def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
            return False

    module.visit(Visitor())
    return found


def _why(name: str) -> str:
    if name.startswith("keras.datasets"):
        return "data loader kept: NumPy arrays are framework-neutral"
    if name.startswith("keras.utils.to_categorical"):
        return "NumPy helper kept"
    return "no rule converts this use yet"
