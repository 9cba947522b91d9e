"""Repeated helper calls → one ``nn.Module`` class, instantiated once per call.

``conv_block(x, 32); conv_block(x, 64)`` was inlined into a flat graph (``blocks.py`` recorded
which call made each layer). Once the model's code is emitted, the calls of one helper whose
layers and forward lines differ only in constructor values become ``class ConvBlock``: the
values that differ are its constructor parameters (named after the helper's parameter that
passed them, else after the torch argument), forward is the helper's lines with its own
names. Anything else (a layer shared with the caller, a kept or lazy layer, forward lines
that differ, a value of unknown type) leaves the calls inlined, as before.

The class's modules are declared in the layers' creation order, so weight porting pairs them
with the Keras layers by structure (``agent/weights/engine.py`` flattens such blocks).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import libcst as cst

from agent.rules.models import init_block, rolled_loops
from agent.rules.models.graph import BlockCall, Call, Layer, ModelIR
from agent.rules.naming import RESERVED, camel, keras_snake
from agent.rules.values import code_of

IND = "    "
_DECLARED = re.compile(r"self\.(\w+) = (.+)$")
_FIRST_ARGS = {  # torch's names for the first two positional arguments of a module
    "Conv": ("in_channels", "out_channels"), "Linear": ("in_features", "out_features"),
    "BatchNorm": ("num_features",), "LayerNorm": ("normalized_shape",),
    "Embedding": ("num_embeddings", "embedding_dim"), "LSTM": ("input_size", "hidden_size"),
    "GRU": ("input_size", "hidden_size"), "RNN": ("input_size", "hidden_size"),
    "GroupNorm": ("num_groups", "num_channels")}


_SIZES = frozenset(n for names in _FIRST_ARGS.values() for n in names)  # always ints


@dataclass
class Span:
    """The forward lines one call emitted: ``body[start:mid]`` permutes its inputs,
    ``body[mid:end]`` is the call itself."""

    call: Call
    start: int
    mid: int
    end: int


@dataclass
class _Instance:
    block: BlockCall
    spans: list[Span]
    layers: list[Layer]
    head: list[str]  # permutes of its inputs: they stay in the caller
    lines: list[str]  # forward lines in the helper's names
    ctors: list[tuple[str, str]]  # (local attribute, constructor) in creation order
    outputs: list[str]  # the helper's names of what it returns
    attrs: dict[str, str] = field(default_factory=dict)  # model attribute -> local one


@dataclass
class Emitted:
    """What :func:`group` made: the classes (text) and the report's change lines."""

    classes: list[str] = field(default_factory=list)
    changes: list[tuple[int, str, str]] = field(default_factory=list)


def group(ir: ModelIR, body: list[str], spans: list[Span],
          declared: list[tuple[int, list[str]]], entries: list[init_block.Entry],
          modules: dict[int, list[str]], fixed: set[int], unique: Callable[[str], str],
          penalties: list[str]) -> Emitted:
    """Turns the helpers called at least twice into classes; edits ``body``, ``declared``,
    ``entries`` and ``penalties`` (regularizer terms) in place. ``modules``: id(layer) -> its
    attributes; ``fixed``: ids of layers that must stay attributes of the model (kept as
    Keras, lazy, buffers)."""
    out = Emitted()
    if ir.kind != "Functional":
        return out
    by_block: dict[int, list[Span]] = {}
    order: list[BlockCall] = []
    for span in spans:
        b = span.call.block
        if b is None:
            continue
        if id(b) not in by_block:
            order.append(b)
        by_block.setdefault(id(b), []).append(span)
    helpers: dict[str, list[_Instance | None]] = {}
    params = {p.name for p in ir.params}
    for b in order:
        helpers.setdefault(b.helper, []).append(_instance(
            ir, b, by_block[id(b)], spans, body, declared, modules, fixed, params))
    taken = {a for attrs in modules.values() for a in attrs} | RESERVED
    units: list[list[tuple[_Instance, str]]] = []  # one attribute each: (instance, ctor)
    for helper, maybe in helpers.items():
        found = [i for i in maybe if i is not None]
        if len(found) < 2 or len(found) != len(maybe):
            continue  # called once, or one call cannot be a module: inlined as before
        made = _make_class(helper, found, ir, unique)
        if made is None:
            continue
        text, args = made
        cls = text.split("(", 1)[0].removeprefix("class ")
        units += _runs([(inst, f"{cls}({arg})") for inst, arg in zip(found, args, strict=True)],
                       spans, ir)
        out.classes.append(text)
        out.changes.append((found[0].spans[0].call.line, "model.block",
                            f"helper {helper}() -> class {cls}, one instance per call "
                            f"({len(found)})"))
    units.sort(key=lambda u: u[0][0].spans[0].start)
    named = []
    for unit in units:
        base = keras_snake(unit[0][0].block.helper)
        if len(unit) > 1:
            base = base + "s" if not base.endswith("s") else base + "_seq"
        named.append((unit, _fresh(base, taken)))
    _rewrite(named, body, declared, entries, penalties, spans, ir)
    return out


def _runs(made: list[tuple[_Instance, str]], spans: list[Span], ir: ModelIR
          ) -> list[list[tuple[_Instance, str]]]:
    """Calls that feed each other directly (``x = block(x, 32); x = block(x, 64)``, an
    unrolled loop): one ``nn.Sequential``; the others one attribute each."""
    runs: list[list[tuple[_Instance, str]]] = []
    for inst, ctor in made:
        if runs and _chained(runs[-1][-1][0], inst, spans, ir):
            runs[-1].append((inst, ctor))
        else:
            runs.append([(inst, ctor)])
    return runs


def _chained(a: _Instance, b: _Instance, spans: list[Span], ir: ModelIR) -> bool:
    if len(a.block.outputs) != 1 or len(b.block.inputs) != 1 or b.head \
            or a.spans[-1].end != b.spans[0].start:
        return False
    out = a.block.outputs[0]
    if b.block.inputs[0][1] is not out or any(t is out for t in ir.outputs):
        return False
    return not any(s.call.block is not b.block and any(t is out for t in s.call.inputs)
                   for s in spans)


def _fresh(base: str, taken: set[str]) -> str:
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _instance(ir: ModelIR, b: BlockCall, mine: list[Span], spans: list[Span],
              body: list[str], declared: list[tuple[int, list[str]]],
              modules: dict[int, list[str]], fixed: set[int], params: set[str]
              ) -> _Instance | None:
    """One helper call as a submodule, or None when it cannot be one."""
    k0 = next(k for k, s in enumerate(spans) if s is mine[0])
    if any(a is not b for a, b in zip(spans[k0:k0 + len(mine)], mine, strict=False)) \
            or len(spans) < k0 + len(mine):
        return None  # another call's lines between its own
    calls = [s.call for s in mine]
    layers: list[Layer] = []
    for c in calls:
        if c.layer.block is not b or id(c.layer) in fixed:
            return None  # a layer made outside the helper, or one that must stay flat
        if all(c.layer is not lyr for lyr in layers):
            layers.append(c.layer)
    mine_ids = {id(c) for c in calls}
    owned = {id(lyr) for lyr in layers}
    if any(id(s.call.layer) in owned and id(s.call) not in mine_ids for s in spans):
        return None  # one of its layers is called again elsewhere
    made = {id(t) for c in calls for t in c.outputs}
    inputs = {id(t): p for p, t in b.inputs}
    if len(inputs) != len(b.inputs) or any(id(t) in made for _, t in b.inputs):
        return None
    for c in calls:
        if any(id(t) not in made and id(t) not in inputs for t in c.inputs):
            return None  # reads a tensor it was not given
    outs = {id(t) for t in b.outputs}
    if len(outs) != len(b.outputs) or not outs <= made or not b.outputs:
        return None
    for s in spans:
        if id(s.call) not in mine_ids and any(id(t) in made - outs for t in s.call.inputs):
            return None
    if any(id(t) in made - outs for t in ir.outputs):
        return None
    # names: the helper's own for its locals, fresh ones for the temporaries it had none for
    names: dict[str, str] = {t.name: p for p, t in b.inputs}
    used = set(b.params) | set(b.locals.values())
    for c in calls:
        for t in c.outputs:
            if t.name in names:
                continue
            local = b.locals.get(t.name)
            if local is None:
                local = _fresh(re.sub(r"_\d+$", "", t.name), used)
            names[t.name] = local
    if len({names[t.name] for _, t in b.inputs}) != len(b.inputs):
        return None
    attrs: dict[str, str] = {}
    counter: set[str] = set()
    ctors: list[tuple[str, str]] = []
    by_seq = {seq: lines for seq, lines in declared}
    for layer in sorted(layers, key=lambda lyr: lyr.seq):
        local = _fresh(keras_snake(layer.keras_name) or layer.attr, counter)
        for attr in modules.get(id(layer), []):
            attrs[attr] = local + attr[len(layer.attr):]
        for line in by_seq.get(layer.seq, []):
            m = _DECLARED.match(line)
            if m is None or m.group(1) not in attrs:
                return None  # a TODO line, a buffer: not a plain module
            ctors.append((attrs[m.group(1)], m.group(2)))
    head: list[str] = []
    lines: list[str] = []
    emitted = False
    for s in mine:
        for line in body[s.start:s.mid]:
            var = line.split(" = ", 1)[0]
            if not emitted and any(t.name == var for _, t in b.inputs):
                head.append(line)
            else:
                lines.append(_rename(line, names, attrs))
        emitted = emitted or s.end > s.mid
        lines += [_rename(line, names, attrs) for line in body[s.mid:s.end]]
    if any(re.search(rf"\b{re.escape(p)}\b", line) for line in lines for p in params):
        return None  # forward reads a parameter of the model
    return _Instance(b, mine, layers, head, lines, ctors, [names[t.name] for t in b.outputs],
                     attrs)


def _rename(line: str, names: dict[str, str], attrs: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        word = m.group(0)
        if word.startswith("self."):
            return "self." + attrs.get(word[5:], word[5:])
        return names.get(word, word)

    # a keyword argument (``dim=1``) is not a variable
    return re.sub(r"self\.\w+|(?<![\w.])[A-Za-z_]\w*(?!\w|=[^=])", sub, line)


def _make_class(helper: str, found: list[_Instance], ir: ModelIR,
                unique: Callable[[str], str]) -> tuple[str, list[str]] | None:
    """The class text and each instance's constructor arguments; None if the calls differ
    in more than constructor values."""
    # the forward of the call whose names are most distinct: the caller may have reused a
    # name (a temporary called like a local) in some calls, never changing what they compute
    template = max(found, key=lambda i: len(set(_WORD.findall(" ".join(i.lines)))))
    first = found[0]
    if any(not _coarsens(template, i) or [a for a, _ in i.ctors] != [a for a, _ in first.ctors]
           for i in found):
        return None
    try:
        trees = [[cst.parse_expression(c) for _, c in i.ctors] for i in found]
    except cst.ParserSyntaxError:
        return None
    holes: list[tuple[cst.CSTNode, list[str], str]] = []  # node in the first, values, context
    for k in range(len(first.ctors)):
        if not _unify([t[k] for t in trees], holes, ""):
            return None
    params = {p.name: p for p in ir.params}
    for tree in trees[0]:  # a model parameter read by a constructor: passed in
        for read in _model_names(tree, set(params)):
            if all(h[0] is not read for h in holes):
                holes.append((read, [read.value] * len(found), read.value))
    names: dict[tuple[str, ...], str] = {}
    annotations: dict[str, str] = {}
    taken = set(template.outputs) | {p for p, _ in first.block.inputs} | {"self", "nn", "torch",
                                                                        "F", "math"}
    derived: list[str] = []
    own: list[str] = []
    for _, values, context in holes:
        key = tuple(values)
        if key in names:
            continue
        param = _helper_param(values, found)
        name = _fresh(param or context or "size", taken)
        kind = "int" if context in _SIZES else _type_of(values, params)
        if kind is None:
            return None
        names[key] = name
        annotations[name] = kind
        (own if param else derived).append(name)
    ordered = derived + sorted(own, key=lambda n: first.block.params.index(n)
                               if n in first.block.params else len(first.block.params))
    by_node = {id(node): names[tuple(values)] for node, values, _ in holes}
    ctors = [code_of(cast(cst.CSTNode, t.visit(_Fill(by_node)))) for t in trees[0]]
    cls = unique(camel(helper))
    sig = ", ".join(f"{n}: {annotations[n]}" for n in ordered)
    inputs = ", ".join(f"{p}: torch.Tensor" for p, _ in first.block.inputs)
    ret = "torch.Tensor" if len(template.outputs) == 1 else \
        "tuple[" + ", ".join("torch.Tensor" for _ in template.outputs) + "]"
    text = [f"class {cls}(nn.Module):",
            f'{IND}"""The Keras helper ``{helper}()`` as a module: one instance per call."""',
            "", f"{IND}def __init__(self{', ' if sig else ''}{sig}) -> None:",
            f"{IND * 2}super().__init__()",
            *[f"{IND * 2}self.{attr} = {ctor}" for (attr, _), ctor in
              zip(first.ctors, ctors, strict=True)],
            "", f"{IND}def forward(self, {inputs}) -> {ret}:",
            *[IND * 2 + line for line in _returned(template.lines, template.outputs)]]
    args = []
    for k in range(len(found)):
        passed = {names[tuple(v)]: v[k] for _, v, _ in holes}
        args.append(", ".join(passed[n] for n in ordered))
    return "\n".join(text), args


_WORD = re.compile(r"self\.\w+|(?<![\w.])[A-Za-z_]\w*")


def _coarsens(fine: _Instance, other: _Instance) -> bool:
    """Whether ``other``'s forward is ``fine``'s with some names merged (each name of
    ``fine`` always standing for the same name of ``other``): the same computation."""
    a, b = fine.lines + [", ".join(fine.outputs)], other.lines + [", ".join(other.outputs)]
    if len(a) != len(b):
        return False
    seen: dict[str, str] = {}
    for x, y in zip(a, b, strict=True):
        if _WORD.split(x) != _WORD.split(y):
            return False  # not the same code around the names
        for u, v in zip(_WORD.findall(x), _WORD.findall(y), strict=False):
            if seen.setdefault(u, v) != v:
                return False
    return True


def _returned(lines: list[str], outputs: list[str]) -> list[str]:
    """The forward lines and the return: ``h = F.relu(x); return h`` reads ``return
    F.relu(x)``."""
    ret = ", ".join(outputs)
    if len(outputs) == 1 and lines and lines[-1].startswith(f"{ret} = "):
        return [*lines[:-1], "return " + lines[-1][len(ret) + 3:]]
    return [*lines, f"return {ret}"]


def _unify(nodes: list[cst.CSTNode], holes: list[tuple[cst.CSTNode, list[str], str]],
           context: str) -> bool:
    """Records where ``nodes`` (one per call, same code shape) differ; False if the shapes
    differ somewhere no value can stand in for."""
    first = nodes[0]
    if all(n.deep_equals(first) for n in nodes[1:]):
        return True
    if not isinstance(first, cst.Call) or any(type(n) is not cst.Call for n in nodes):
        if isinstance(first, cst.BaseExpression):
            holes.append((first, [code_of(n) for n in nodes], context))
            return True
        return False
    if any(type(n) is not type(first) for n in nodes):
        return False
    if isinstance(first, cst.Call):
        calls = [n for n in nodes if isinstance(n, cst.Call)]
        if any(not c.func.deep_equals(first.func) or len(c.args) != len(first.args)
               for c in calls):
            return False
        func = code_of(first.func).rsplit(".", 1)[-1]
        positional = 0
        for k, arg in enumerate(first.args):
            args = [c.args[k] for c in calls]
            if any((a.keyword is None) != (arg.keyword is None) or a.keyword is not None
                   and arg.keyword is not None and a.keyword.value != arg.keyword.value
                   for a in args):
                return False
            if arg.keyword is not None:
                name = arg.keyword.value
            else:
                name = _positional(func, positional)
                positional += 1
            if not _unify([a.value for a in args], holes, name):
                return False
        return True
    return False


def _positional(func: str, k: int) -> str:
    for prefix, names in _FIRST_ARGS.items():
        if func.startswith(prefix) or func.startswith("Lazy" + prefix):
            return names[k] if k < len(names) else ""
    return ""


def _helper_param(values: list[str], found: list[_Instance]) -> str | None:
    """The helper parameter every call passed these values through, if one did."""
    for param in found[0].block.params:
        passed = [i.block.args.get(param) for i in found]
        if all(p is not None and _same(p, v) for p, v in zip(passed, values, strict=True)):
            return param
    return None


def _same(a: str, b: str) -> bool:
    if a.strip("() ") == b.strip("() "):
        return True
    try:
        return bool(ast.literal_eval(a) == ast.literal_eval(b))
    except (ValueError, SyntaxError, TypeError):
        return False


def _type_of(values: list[str], params: dict[str, Any]) -> str | None:
    """The annotation for a constructor parameter that takes ``values``; None: unknown."""
    kinds: set[str] = set()
    for v in values:
        try:
            value = ast.literal_eval(v)
        except (ValueError, SyntaxError, TypeError):
            p = params.get(v.strip("() "))
            if p is None or not p.annotation:
                return None
            kinds.add(p.annotation)
            continue
        kind = _literal_type(value)
        if kind is None:
            return None
        kinds.add(kind)
    if kinds == {"int", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else None


def _literal_type(value: object) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, str)):
        return type(value).__name__
    if isinstance(value, tuple) and value:
        items = {_literal_type(v) for v in value}
        if len(items) == 1 and None not in items:
            return f"tuple[{', '.join(str(i) for i in [items.pop()] * len(value))}]"
    return None


def _model_names(tree: cst.CSTNode, params: set[str]) -> list[cst.Name]:
    found: list[cst.Name] = []

    class Names(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> bool:
            node.value.visit(self)
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            node.value.visit(self)
            return False

        def visit_Name(self, node: cst.Name) -> None:
            if node.value in params:
                found.append(node)

    tree.visit(Names())
    return found


class _Fill(cst.CSTTransformer):
    def __init__(self, by_node: dict[int, str]) -> None:
        super().__init__()
        self.by_node = by_node

    def on_leave(self, original_node: cst.CSTNodeT, updated_node: cst.CSTNodeT
                 ) -> cst.CSTNodeT | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNodeT]:
        name = self.by_node.get(id(original_node))
        if name is None:
            return updated_node
        return cst.Name(name)  # type: ignore[return-value]


def _penalized(unit: list[tuple[_Instance, str]], penalties: list[str]) -> bool:
    olds = {old for inst, _ in unit for old in inst.attrs}
    return any(m[1] in olds for p in penalties for m in re.finditer(r"\bself\.(\w+)\.", p))


def _caller_names(inst: _Instance, body: list[str], end: int, spans: list[Span],
                  ir: ModelIR) -> None:
    """``x = self.conv_block(x)`` rather than ``outputs_4 = ...``: each output takes the name
    the caller bound it to, where no later line reads another tensor by that name, nor this
    one after that name is rebound."""
    later = [s for s in spans if s.start >= end]
    for out, target in zip(inst.block.outputs, inst.block.targets, strict=False):
        old = out.name
        if target == old or not target.isidentifier() or target == "self":
            continue
        rebound, clash = False, False
        for s in later:
            if any(t is out for t in s.call.inputs) and rebound or any(
                    t is not out and t.name == target for t in s.call.inputs) and not rebound:
                clash = True  # ``out`` read after the name moved on, or an older ``target``
                break
            if any(t.name == old and t is not out for t in s.call.outputs):
                clash = True  # the old name rebound: renaming after it would be wrong
                break
            rebound = rebound or any(t.name == target for t in s.call.outputs)
        made_later = {id(t) for s in later for t in s.call.outputs}
        if clash or rebound and any(t is out for t in ir.outputs) or any(
                t is not out and (t.name == old or t.name == target and id(t) not in made_later)
                for t in ir.outputs):
            continue
        pattern = re.compile(rf"(?<![\w.]){re.escape(old)}(?!\w|=[^=])")
        body[end:] = [pattern.sub(target, line) for line in body[end:]]
        out.name = target


def _rewrite(named: list[tuple[list[tuple[_Instance, str]], str]], body: list[str],
             declared: list[tuple[int, list[str]]], entries: list[init_block.Entry],
             penalties: list[str], spans: list[Span], ir: ModelIR) -> None:
    """The model's code with each unit one attribute (a module, or an ``nn.Sequential`` of
    chained ones) and one forward line."""
    moved: dict[str, str] = {}
    gone: set[int] = set()
    made: list[tuple[int, list[str]]] = []
    for unit, attr in sorted(named, key=lambda n: -n[0][0][0].spans[0].start):
        first, last = unit[0][0], unit[-1][0]
        start, end = first.spans[0].start, last.spans[-1].end
        _caller_names(last, body, end, spans, ir)
        outs = ", ".join(t.name for t in last.block.outputs)
        args = ", ".join(t.name for _, t in first.block.inputs)
        body[start:end] = [*first.head, f"{outs} = self.{attr}({args})"]
        seqs = [lyr.seq for inst, _ in unit for lyr in inst.layers]
        gone |= set(seqs)
        ctors = [ctor for _, ctor in unit]
        loop = None
        if len(unit) == 1:
            lines = [f"self.{attr} = {ctors[0]}"]
        elif len(set(ctors)) == 1:
            if not _penalized(unit, penalties):  # regularization_loss names each block
                loop = rolled_loops.loop_of([inst.block for inst, _ in unit], ir)
            over = loop.iter if loop is not None else f"range({len(unit)})"
            lines = [f"self.{attr} = nn.Sequential(*({ctors[0]} for _ in {over}))"]
        else:
            lines = [f"self.{attr} = nn.Sequential(", *[f"{IND}{c}," for c in ctors], ")"]
        made.append((min(seqs), lines))
        for k, (inst, _) in enumerate(unit):
            where = attr if len(unit) == 1 else f"{attr}[{k}]"
            for old, local in inst.attrs.items():
                moved[old] = f"{where}.{local}"
                if loop is not None:  # initialised as the module of every block, once
                    loop.paths[old] = init_block.each(attr, ctors[0].split("(")[0], local) \
                        if k == 0 else ""
    declared[:] = [d for d in declared if d[0] not in gone] + made
    ir.module_paths.update(moved)  # a model over this one's tensors reaches them there
    paths = rolled_loops.entry_paths(ir)
    entries[:] = [init_block.Entry(paths.get(e.attr) or moved.get(e.attr, e.attr), e.ctors,
                                   e.templates)
                  for e in entries if paths.get(e.attr) != ""]
    penalties[:] = [re.sub(r"\bself\.(\w+)\.", lambda m: f"self.{moved.get(m[1], m[1])}.", p)
                    for p in penalties]
