"""Containers of layers inside a subclass's ``__init__``.

``self.ffn = keras.Sequential([...])`` becomes a small generated ``nn.Module`` class (built by
the model rules: same layer table, Lazy modules for the unknown input size) placed before the
subclass; ``self.blocks = [Block(...) for _ in range(n)]`` becomes an ``nn.ModuleList`` and a
dict of layers an ``nn.ModuleDict``, when their items are converted custom layers; a
``block = keras.Sequential([...])`` made in a loop and appended to ``self.blocks`` is such a
generated class too, and the list an ``nn.ModuleList`` (a plain list hides its parameters).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.models.codegen import generate
from agent.rules.models.extract import BlockExtractor
from agent.rules.models.shapes import Shape
from agent.rules.naming import camel
from agent.rules.ops.rewrite import lambda_converter
from agent.rules.spec import Unsupported
from agent.rules.values import code_of, names_read


@dataclass(frozen=True)
class Nested:
    """A generated class and the constructor call that replaces the Keras container."""

    code: str
    ctor: str
    warnings: tuple[str, ...]


def nested_sequential(owner: str, attr: str, call: cst.Call, imports: ImportTable,
                      env: dict[str, Any], params: dict[str, str | None],
                      custom: set[str], taken: set[str], line: int = 0,
                      input_shape: Shape | None = None) -> Nested:
    """``self.<attr> = keras.Sequential([...])`` inside class ``owner``. Attributes of the
    owner it reads (``Conv2D(self.channel // 4)``) become parameters of the generated class,
    passed as ``channel=self.channel``; ``input_shape`` (the shape ``call()`` feeds it, when
    known) sizes its first layer where the list does not."""
    owned = _self_attributes(call)
    if owned & _names(call):
        raise Unsupported(f"self.{attr} = Sequential(...) reads both self.<x> and x")
    call = _without_self(call, owned)
    params = {**params, **{a: None for a in owned}}
    stmt = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(attr))], call)])
    extractor = BlockExtractor(imports, env, function="__init__", params=params,
                               custom_layers=custom, models_in_scope={},
                               lambda_converter=lambda_converter(imports),
                               module_names=set(), lines=[line])
    founds = extractor.run([stmt])
    if extractor.errors or len(founds) != 1:
        why = extractor.errors[0][2] if extractor.errors else "not a list of layers"
        raise Unsupported(f"self.{attr} = Sequential(...): {why}")
    ir = founds[0].ir
    if input_shape is not None and ir.inputs and ir.inputs[0].shape is None:
        ir.inputs[0].shape = input_shape  # the calls hold this tensor object
    if any(p.name == "self" for p in ir.params):
        raise Unsupported(f"self.{attr} = Sequential(...) reads self.<attribute>")
    name = f"{owner}{camel(attr)}"
    while name in taken:
        name += "_"
    taken.add(name)
    ir.class_name = name
    gen = generate(ir)
    if not gen.code or gen.unmapped:
        why = gen.unmapped[0][2] if gen.unmapped else "no code"
        raise Unsupported(f"self.{attr} = Sequential(...): {why}")
    head, rest = gen.code.split("\n", 1)
    code = head.replace("(pl.LightningModule):", "(nn.Module):") + "\n" + re.sub(
        r"from the Keras Sequential model ``(\w+)``", rf"from the Keras Sequential ``{owner}.\1``",
        rest)
    code = "\n".join(line for line in code.split("\n")
                     if "self.example_input_array" not in line
                     and "self.save_hyperparameters()" not in line)
    args = ", ".join(f"{p.name}={_owned_reads(p.passed or p.name, owned)}" for p in ir.params)
    return Nested(code, f"{name}({args})", tuple(m for _, m in gen.warnings))


def _owned_reads(code: str, owned: set[str]) -> str:
    """``code`` (a name, or ``rows.shape[-1]``) reading the layer's own attributes."""
    return re.sub(r"(?<![\w.])([A-Za-z_]\w*)",
                  lambda m: f"self.{m.group(1)}" if m.group(1) in owned else m.group(1), code)


def _self_attributes(node: cst.CSTNode) -> set[str]:
    class V(cst.CSTVisitor):
        found: set[str] = set()

        def visit_Attribute(self, n: cst.Attribute) -> None:
            if isinstance(n.value, cst.Name) and n.value.value == "self":
                V.found.add(n.attr.value)

    V.found = set()
    node.visit(V())
    return V.found


def _names(node: cst.CSTNode) -> set[str]:
    """Bare names read (not attribute names, not keywords)."""
    return {n.value for n in names_read(node)} - {"self"}


def _without_self(call: cst.Call, owned: set[str]) -> cst.Call:
    class R(cst.CSTTransformer):
        def leave_Attribute(self, o: cst.Attribute, u: cst.Attribute) -> cst.BaseExpression:
            if isinstance(o.value, cst.Name) and o.value.value == "self" and o.attr.value in owned:
                return cst.Name(o.attr.value)
            return u

    new = call.visit(R())
    assert isinstance(new, cst.Call)
    return new


def module_container(value: cst.BaseExpression, custom: set[str]) -> str | None:
    """``[Block(...) for ...]`` / ``[A(), B()]`` -> nn.ModuleList, ``{"a": A()}`` ->
    nn.ModuleDict, when every item is a converted custom layer; None otherwise."""
    if isinstance(value, cst.ListComp):
        items: list[cst.BaseExpression] = [value.elt]
    elif isinstance(value, (cst.List, cst.Tuple)) and value.elements:
        items = [el.value for el in value.elements]
    elif isinstance(value, cst.Dict) and value.elements:
        items = [el.value for el in value.elements if isinstance(el, cst.DictElement)]
        if len(items) != len(value.elements):
            return None
    else:
        return None
    if not all(isinstance(it, cst.Call) and isinstance(it.func, cst.Name)
               and it.func.value in custom for it in items):
        return None
    kind = "nn.ModuleDict" if isinstance(value, cst.Dict) else "nn.ModuleList"
    inner = code_of(value)
    if isinstance(value, cst.Tuple):
        inner = f"[{inner.strip('()')}]"
    return f"{kind}({inner})"


def _assigned_names(stmt: cst.CSTNode) -> set[str]:
    """Names a compound statement binds: loop targets and plain assignments."""
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_For(self, n: cst.For) -> None:
            found.update(x.value for x in _target_names(n.target))

        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            found.update(x.value for x in _target_names(n.target))

    stmt.visit(V())
    return found


def _target_names(t: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(t, cst.Name):
        return [t]
    if isinstance(t, (cst.Tuple, cst.List)):
        return [n for el in t.elements for n in _target_names(el.value)]
    return []


def loop_sequentials(stmt: cst.BaseCompoundStatement, imports: ImportTable,
                     make: Callable[[str, cst.Call, set[str]], str]
                     ) -> tuple[cst.BaseCompoundStatement, set[str]]:
    """In a loop/branch of ``__init__``: ``name = keras.Sequential([...])`` → ``name = <make's
    constructor>`` (``make`` gets the local name, the call and the names the statement
    binds, which become the generated class's parameters); returns the new statement and
    the ``self.<list>`` attributes the converted names are appended to."""
    local = _assigned_names(stmt)
    made: set[str] = set()
    lists: set[str] = set()

    class T(cst.CSTTransformer):
        def leave_Assign(self, o: cst.Assign, u: cst.Assign) -> cst.Assign:
            if (len(u.targets) == 1 and isinstance(u.targets[0].target, cst.Name)
                    and isinstance(u.value, cst.Call)
                    and imports.resolve(u.value.func) == "keras.Sequential"):
                name = u.targets[0].target.value
                made.add(name)
                return u.with_changes(value=cst.parse_expression(make(name, u.value, local)))
            return u

        def leave_Call(self, o: cst.Call, u: cst.Call) -> cst.Call:
            f = u.func
            if (isinstance(f, cst.Attribute) and f.attr.value == "append"
                    and isinstance(f.value, cst.Attribute) and isinstance(f.value.value, cst.Name)
                    and f.value.value.value == "self" and len(u.args) == 1
                    and isinstance(u.args[0].value, cst.Name) and u.args[0].value.value in made):
                lists.add(f.value.attr.value)
            return u

    new = stmt.visit(T())
    assert isinstance(new, cst.BaseCompoundStatement)
    return new, lists


def appended_custom_layers(stmt: cst.BaseCompoundStatement, custom: set[str]) -> set[str]:
    """The ``self.<list>`` attributes a loop/branch of ``__init__`` appends converted custom
    layers to (``grn = Block(units); self.grns.append(grn)`` or ``.append(Block(units))``):
    those lists become ``nn.ModuleList``s, as a plain list hides its modules' parameters."""
    made: set[str] = set()
    lists: set[str] = set()

    def is_custom(node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
            and node.func.value in custom

    class V(cst.CSTVisitor):
        def visit_Assign(self, n: cst.Assign) -> None:
            if len(n.targets) == 1 and isinstance(n.targets[0].target, cst.Name) \
                    and is_custom(n.value):
                made.add(n.targets[0].target.value)

        def visit_Call(self, n: cst.Call) -> None:
            f = n.func
            if isinstance(f, cst.Attribute) and f.attr.value == "append" and len(n.args) == 1 \
                    and isinstance(f.value, cst.Attribute) \
                    and isinstance(f.value.value, cst.Name) and f.value.value.value == "self":
                item = n.args[0].value
                if is_custom(item) or isinstance(item, cst.Name) and item.value in made:
                    lists.add(f.value.attr.value)

    stmt.visit(V())
    return lists
