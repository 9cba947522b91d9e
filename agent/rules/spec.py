"""The shape of a table entry: what a Keras layer becomes, and how its weights move.

Each Keras layer has one :class:`LayerSpec`. Simple facts (parameter order, Keras defaults,
torch targets, weight-port rule, examples) are data; the part that needs shape inference
(``in_features``, TF "same" padding, layout) is a small ``build`` function next to the entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.rules.models.shapes import Shape
from agent.rules.values import UNKNOWN, Value

Layout = Literal["cf", "keras", "any"]


class NotStatic(Exception):
    """An argument that must be known at conversion time is not (e.g. a kernel size)."""


class Unsupported(Exception):
    """An argument value or input the rules cannot express faithfully."""


@dataclass
class Args:
    """Keras arguments bound by name; tracks which ones a build function consumed."""

    layer: str
    values: dict[str, Value]
    defaults: dict[str, Any]
    used: set[str] = field(default_factory=set)
    # the layer's code may name the source's variables at run time (a builder's parameters,
    # kept as the class's): an activation held in one is then looked up at run time
    runtime_names: bool = False

    def has(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str) -> Any:
        """The static value (explicit or Keras default); raises NotStatic if not literal."""
        self.used.add(name)
        if name in self.values:
            v = self.values[name]
            if not v.known:
                raise NotStatic(f"{self.layer}({name}={v.code}) must be a literal to convert")
            return v.value
        return self.defaults.get(name)

    def code(self, name: str) -> str:
        """Source code for the argument: the user's expression, or the Keras default."""
        self.used.add(name)
        if name in self.values:
            return self.values[name].code
        return repr(self.defaults.get(name))

    def value(self, name: str) -> Any:
        """Static value if known, else the code string (for dims that may be symbolic)."""
        self.used.add(name)
        if name in self.values:
            v = self.values[name]
            return v.value if v.known else v.code
        return self.defaults.get(name)

    def unused(self) -> list[str]:
        return [k for k in self.values if k not in self.used]


@dataclass
class Built:
    """What one Keras layer becomes in the generated module.

    ``modules``: (attribute suffix, constructor code); suffix "" is the layer's own name.
    ``forward``: an expression template with ``{m}`` (self.<attr>), ``{m_<suffix>}``,
    ``{x}`` (first input) and ``{xs}`` (all inputs as a list), or ``stmts``: statements that
    bind ``{y}`` (the output name) for layers that need more than one expression.
    ``layout``: the layout the inputs must be in ("cf" = channels first) or "any".
    """

    out: Shape | list[Shape]
    forward: str = "{x}"
    stmts: tuple[str, ...] = ()
    modules: tuple[tuple[str, str], ...] = ()
    init: tuple[str, ...] = ()  # statements with {m}, run after construction
    layout: Layout = "any"
    out_layout: Layout | None = None  # defaults to the input's layout after conversion
    activation: str | None = None
    warnings: tuple[str, ...] = ()
    lazy: bool = False
    lazy_init: tuple[str, ...] = ()  # ``init`` of a lazy layer: run once a dry call sized it
    passed_class: bool = False  # the module is a class the builder's caller passes


@dataclass(frozen=True)
class Example:
    """A before/after pair; ``after`` lines must each appear in the generated module."""

    keras: str  # the layer expression, e.g. 'layers.Dense(4, activation="relu")'
    input_shape: tuple[int | None, ...]
    expect: tuple[str, ...]
    equivalence: bool = True
    forbid: tuple[str, ...] = ()


BuildFn = Callable[[Args, Sequence[Shape], "BuildContext"], Built]


@dataclass(frozen=True)
class LayerSpec:
    keras: str  # class name under keras.layers, e.g. "Dense"
    params: tuple[str, ...]  # positional order of the Keras constructor
    defaults: dict[str, Any]
    build: BuildFn
    torch: tuple[str, ...] = ()  # torch callables the build writes (registry test)
    torch_kwargs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    port: str | None = None  # weight-port rule in agent.weights.engine, None = no weights
    examples: tuple[Example, ...] = ()
    # Keras arguments that need no counterpart (names, dtypes the same as torch's default).
    ignorable: tuple[str, ...] = ("name", "dtype", "trainable", "input_shape", "batch_input_shape",
                                  "input_dim", "batch_size")
    # keyword arguments the build reads when the layer is called; any other one (a mask,
    # training=True) makes the conversion fail loudly instead of being dropped
    call_args: tuple[str, ...] = ()
    stateful: bool = False  # has a torch module (vs. a pure function in forward)


@dataclass
class BuildContext:
    """Facts about the surrounding model a build function may need."""

    layout_of_input: Layout = "keras"
    image_data_format: str = "channels_last"
    inner_args: Args | None = None  # for wrappers (Bidirectional, TimeDistributed)
    inner_spec: LayerSpec | None = None
    call_kwargs: dict[str, Value] = field(default_factory=dict)
    # whether forward may read the source's names (a model builder's parameters become the
    # class's; a subclass's __init__ locals are not seen by its forward)
    names_in_forward: bool = True
    input_names: tuple[str, ...] = ()  # the inputs' names in the source, where they are known


def bind(spec: LayerSpec, args: Sequence[Value], kwargs: dict[str, Value]) -> Args:
    values: dict[str, Value] = {}
    for name, v in zip(spec.params, args, strict=False):
        values[name] = v
    if len(args) > len(spec.params):
        raise Unsupported(f"{spec.keras}: too many positional arguments")
    values.update(kwargs)
    a = Args(spec.keras, values, dict(spec.defaults))
    for name in spec.ignorable:
        if name in values:
            a.used.add(name)
    return a


def static(value: Any, what: str) -> Any:
    if value is UNKNOWN:
        raise NotStatic(what)
    return value


def tuple_n(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    if isinstance(value, (tuple, list)) and len(value) == n:
        return tuple(int(v) for v in value)
    raise Unsupported(f"expected an int or {n} ints, got {value!r}")
