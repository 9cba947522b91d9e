"""Keras initializers for a generated class, written once per module type.

A PyTorch user initialises a model in one place: a loop over its modules with one branch
per module type (``if isinstance(module, (nn.Conv2d, nn.Linear)): ...``), not two or three
lines per layer. The loop initialises each type the way most of its layers are; a layer
initialised another way (another initializer, a size inside the statement) gets its own
lines after the loop, as a PyTorch user overrides one layer after the general init. Biases are
guarded with ``if module.bias is not None`` (torch types a convolution's bias as optional),
so no ``assert`` exists only for mypy, and a ``use_bias=False`` layer shares its type's
branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IND = "    "
HEADER = "# Keras initializers (torch's defaults differ)"
_CTOR = re.compile(r"nn\.(\w+)\(")
_ASSERT_BIAS = "assert {m}.bias is not None"
_BIAS = "{m}.bias"
# arrays copied in (Keras's ``weights=``): one layer's own values, never a type's loop branch
LOADED = ".data.copy_("
# torch modules that hold other modules: iterating self.modules() would reach their children
_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict", "MultiheadAttention",
                         "Transformer", "TransformerEncoder", "TransformerDecoder",
                         "TransformerEncoderLayer", "TransformerDecoderLayer"})


# ``blocks[*Block].dense``: that module of every ``Block`` of a loop-built nn.Sequential
# (rolled_loops.py); the isinstance test types the block for mypy
_EACH = re.compile(r"^(\w+)\[\*(\w+)\]\.(.+)$")
_EACH_VAR = "block_module"


def each(attr: str, cls: str, local: str) -> str:
    """The init path of module ``local`` in every ``cls`` block of ``self.<attr>``."""
    return f"{attr}[*{cls}].{local}"


def _items(attrs: list[str]) -> list[str]:
    """``self.<attr>`` for each; the modules of every block of a loop, one starred item."""
    out: list[str] = []
    groups: dict[str, list[str]] = {}
    classes: dict[str, str] = {}
    for attr in attrs:
        m = _EACH.match(attr)
        if m is None:
            out.append(f"self.{attr}")
            continue
        if m.group(1) not in groups:
            groups[m.group(1)] = []
            classes[m.group(1)] = m.group(2)
            out.append(m.group(1))  # placeholder, filled below
        groups[m.group(1)].append(f"{_EACH_VAR}.{m.group(3)}")
    for k, item in enumerate(out):
        if item in groups:
            parts = groups[item]
            over = f"for {_EACH_VAR} in self.{item} if isinstance({_EACH_VAR}, {classes[item]})"
            out[k] = f"*({parts[0]} {over})" if len(parts) == 1 else \
                f"*(m {over} for m in ({', '.join(parts)}))"
    return out


def _tuple(attrs: list[str]) -> str:
    items = _items(attrs)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


@dataclass(frozen=True)
class Entry:
    """One declared layer: its attribute, its constructors, its init templates (``{m}``)."""

    attr: str
    ctors: tuple[str, ...]
    templates: tuple[str, ...]


def _torch_class(entry: Entry) -> str | None:
    """``nn.Linear`` for a layer that is exactly one plain torch module, else None."""
    if len(entry.ctors) != 1:
        return None
    m = _CTOR.match(entry.ctors[0])
    return f"nn.{m.group(1)}" if m else None


def _leaf(cls: str | None) -> bool:
    """A plain torch module without child modules, built eagerly."""
    return cls is not None and not cls.startswith("nn.Lazy") and cls[3:] not in _CONTAINERS


def _split(templates: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(weight statements, bias statements, whether the bias is typed optional)."""
    optional = _ASSERT_BIAS in templates
    rest = [t for t in templates if t != _ASSERT_BIAS]
    bias = tuple(t for t in rest if _BIAS in t and "\n" not in t)
    return tuple(t for t in rest if t not in bias), bias, optional


@dataclass
class _Kind:
    weights: tuple[str, ...]
    bias: tuple[str, ...]
    optional: bool
    attrs: list[str]
    bias_always: bool  # every layer of the type has the bias statements

    def takes(self, weights: tuple[str, ...], bias: tuple[str, ...]) -> bool:
        return weights == self.weights and (not bias or not self.bias or bias == self.bias)


def _kinds(entries: list[Entry], exact: bool) -> dict[str, _Kind]:
    """Per module type, the way most of its layers are initialised (the first on a tie).

    A layer of the type initialised another way is not in ``attrs``: its own statements
    follow the loop. ``exact``: the loop reaches every module of the type (``self.modules()``),
    so a type with a layer that keeps torch's own init gets no branch at all.
    """
    by_type: dict[str, list[tuple[Entry, tuple[str, ...], tuple[str, ...], bool]]] = {}
    untouched: set[str] = set()  # types with a layer that keeps torch's init
    for e in entries:
        cls = _torch_class(e)
        if cls is None:
            continue
        if not e.templates:
            untouched.add(cls)
            continue
        if any(LOADED in t for t in e.templates):
            continue  # its own lines follow the loop (after the type's init, if any)
        by_type.setdefault(cls, []).append((e, *_split(e.templates)))
    kinds: dict[str, _Kind] = {}
    for cls, layers in by_type.items():
        if exact and cls in untouched:
            continue
        votes = [sum(1 for _, w, b, _ in layers if w == weights) for _, weights, _, _ in layers]
        _, weights, bias, _ = layers[votes.index(max(votes))]
        kind = _Kind(weights, bias, False, [], True)
        for e, w, b, optional in layers:
            if kind.takes(w, b):
                kind.attrs.append(e.attr)
                kind.bias = kind.bias or b
                kind.bias_always = kind.bias_always and bool(b)
                kind.optional = kind.optional or optional
        kinds[cls] = kind
    return kinds


def _branch(kind: _Kind, var: str) -> list[str]:
    out: list[str] = []
    for t in kind.weights:
        out += t.replace("{m}", var).split("\n")
    if not kind.bias:
        return out
    bias = [t.replace("{m}", var) for t in kind.bias]
    if kind.optional or not kind.bias_always:
        return [*out, f"if {var}.bias is not None:", *[IND + b for b in bias]]
    return out + bias


def loop(entries: list[Entry], modules: str | None, var: str = "module"
         ) -> tuple[list[str], set[str]]:
    """The init loop over ``modules`` (e.g. ``self.layers``) and the attributes it covers.

    ``modules=None``: the class's own modules, ``self.modules()`` where every module is a
    plain torch leaf, else a tuple of the covered attributes.
    """
    exact = modules is not None or all(_leaf(_torch_class(e)) for e in entries)
    kinds = _kinds(entries, exact)
    if not kinds:
        return [], set()
    covered = {a for k in kinds.values() for a in k.attrs}
    one_type = False
    if modules is None:
        if exact:
            modules = "self.modules()"
        else:
            modules = _tuple([e.attr for e in entries if e.attr in covered])
            one_type = len(kinds) == 1
    # types that share their statements share a branch (guarded if any of them needs it)
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for cls, k in kinds.items():
        groups.setdefault((k.weights, k.bias), []).append(cls)
    out = [f"for {var} in {modules}:"]
    for n, ((weights, bias), classes) in enumerate(groups.items()):
        members = [kinds[c] for c in classes]
        body = _branch(_Kind(weights, bias, any(k.optional for k in members), [],
                             all(k.bias_always for k in members)), var)
        if one_type:
            out += [IND + line for line in body]
            break
        test = classes[0] if len(classes) == 1 else "(" + ", ".join(classes) + ")"
        out.append(f"{IND}{'if' if n == 0 else 'elif'} isinstance({var}, {test}):")
        out += [IND * 2 + line for line in body]
    return out, covered


def block(entries: list[Entry]) -> list[str]:
    """All init statements of a class: the loop, then the layers it does not cover."""
    lines, covered = loop(entries, None)
    for e in entries:
        if e.attr in covered:
            continue
        every = _EACH.match(e.attr)
        path = f"{_EACH_VAR}.{every.group(3)}" if every else f"self.{e.attr}"
        own: list[str] = []
        for t in e.templates:
            if t == _ASSERT_BIAS:
                continue
            stmt = t.replace("{m}", path)
            if _BIAS in t and _ASSERT_BIAS in e.templates and "\n" not in t:
                own += [f"if {path}.bias is not None:", IND + stmt]
            else:
                own += stmt.split("\n")
        if every and own:  # the module of every block
            own = [f"for {_EACH_VAR} in self.{every.group(1)}:",
                   f"{IND}if isinstance({_EACH_VAR}, {every.group(2)}):",
                   *[2 * IND + x for x in own]]
        lines += own
    return [HEADER, *lines] if lines else []


LAZY_HEADER = "# Keras initializers of the layers sized by the first batch: run once it came"


def after_first_batch(entries: list[Entry]) -> tuple[list[str], set[str]]:
    """Init of lazy layers (``entries`` name their materialized types): one ``init_weights``
    function, hooked on each layer by ``init_on_first_batch`` (training/runtime/
    lazy_modules.py), and the attributes it could not cover (their init is dropped)."""
    if not entries:
        return [], set()
    lines, covered = loop(entries, _tuple([e.attr for e in entries]))
    left = {e.attr for e in entries} - covered
    if not covered:
        return [], left
    body = [line[len(IND):] for line in lines[1:]]  # the loop's branches, one level up
    hooked = _items([e.attr for e in entries if e.attr in covered])
    calls = [f"init_on_first_batch({hooked[0]}, init_weights)"] \
        if len(hooked) == 1 and not hooked[0].startswith("*") else [
            f"for layer in ({', '.join(hooked)}{',' if len(hooked) == 1 else ''}):",
            IND + "init_on_first_batch(layer, init_weights)"]
    return [LAZY_HEADER, "def init_weights(module: nn.Module) -> None:",
            *[IND + b for b in body], *calls], left
