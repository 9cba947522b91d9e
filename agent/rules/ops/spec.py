"""The shape of an op-table entry: a TF / keras.ops / keras.backend function → torch code.

Most ops are data (torch callable, Keras positional order, keyword renames, Keras defaults
that must be written because torch's differ). Ops whose meaning depends on argument values
(``tf.transpose`` without ``perm``, ``tf.matmul(transpose_a=True)``, ``tf.cast`` dtypes) carry
a small handler that writes the code from the bound arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from agent.rules.spec import Unsupported
from agent.rules.values import UNKNOWN, code_of, evaluate


@dataclass
class Bound:
    """The arguments of one framework call, by Keras parameter name, as (converted) code."""

    op: str  # canonical qualified name, for messages
    args: dict[str, str]
    nodes: dict[str, cst.BaseExpression]
    varargs: list[str] = field(default_factory=list)
    params: tuple[str, ...] = ()

    def first(self) -> str:
        """The name of the first parameter (the tensor, for most ops)."""
        return self.params[0] if self.params else ""

    def params_pair(self) -> tuple[str, str]:
        return self.code(self.params[0]), self.code(self.params[1])

    def first_two_nodes(self) -> tuple[cst.BaseExpression | None, cst.BaseExpression | None]:
        return self.nodes.get(self.params[0]), self.nodes.get(self.params[1])

    def has(self, name: str) -> bool:
        return name in self.args

    def code(self, name: str, default: str | None = None) -> str:
        if name in self.args:
            return self.args[name]
        if default is None:
            raise Unsupported(f"{self.op}: missing argument {name!r}")
        return default

    def lit(self, name: str, default: Any = None) -> Any:
        """The literal value of an argument (UNKNOWN when it is not a literal)."""
        if name not in self.nodes:
            return default
        return evaluate(self.nodes[name]).value

    def is_default(self, name: str, default: str) -> bool:
        return name not in self.args or self.args[name] == default


Handler = Callable[[Bound], str]


@dataclass(frozen=True)
class Op:
    """One table entry.

    ``torch``: the callable written (``torch.sum``); ``params``: the Keras/TF positional
    order; the first ``pos`` parameters are passed positionally, the others as keywords
    renamed by ``renames`` (``axis`` → ``dim``). An argument equal to its entry in
    ``defaults`` is not written; ``explicit`` lists arguments written even when the user
    omitted them (Keras's default differs from torch's). ``fixed`` arguments have no torch
    counterpart: any value but the default is unsupported.
    """

    torch: str
    params: tuple[str, ...]
    pos: int = 1
    renames: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    explicit: dict[str, str] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)
    elementwise: bool = False
    handler: Handler | None = None
    varargs: bool = False  # einsum(equation, *operands)
    examples: tuple[tuple[str, str], ...] = ()  # (TF/Keras code, torch code), ``import tensorflow as tf``
    value: str = ""  # the function used as a value (``activation=tf.nn.gelu``): TF's signature


IGNORED = ("name",)


def bind(op: Op, qualname: str, call: cst.Call, codes: list[str]) -> Bound:
    """Bind a call's arguments (``codes`` are the converted argument codes) to ``op.params``."""
    args: dict[str, str] = {}
    nodes: dict[str, cst.BaseExpression] = {}
    varargs: list[str] = []
    k = 0
    for arg, code in zip(call.args, codes, strict=True):
        if arg.star:
            raise Unsupported(f"{qualname}: *args/**kwargs")
        if arg.keyword is None:
            if k < len(op.params):
                name = op.params[k]
            elif op.varargs:
                varargs.append(code)
                continue
            else:
                raise Unsupported(f"{qualname}: too many positional arguments")
            k += 1
        else:
            name = arg.keyword.value
            if name in IGNORED:
                continue
            if name not in op.params:
                raise Unsupported(f"{qualname}: argument {name!r} has no torch mapping")
        args[name] = code
        nodes[name] = arg.value
    return Bound(qualname, args, nodes, varargs, op.params)


def emit(op: Op, b: Bound) -> str:
    """The generic rule: torch callable, positional then renamed keyword arguments."""
    if op.handler is not None:
        return op.handler(b)
    positional: list[str] = []
    keywords: list[str] = []
    for i, p in enumerate(op.params):
        if p in op.fixed:
            if not b.is_default(p, op.fixed[p]):
                raise Unsupported(f"{b.op}({p}={b.args[p]}) has no torch equivalent")
            continue
        if p in b.args:
            code = b.args[p]
            if p in op.defaults and code == op.defaults[p]:
                continue
        elif p in op.explicit:
            code = op.explicit[p]
        elif i < op.pos and p not in op.defaults:
            raise Unsupported(f"{b.op}: missing argument {p!r}")
        else:
            continue
        if i < op.pos:
            positional.append(code)
        else:
            keywords.append(f"{op.renames.get(p, p)}={code}")
    return f"{op.torch}({', '.join(positional + keywords + b.varargs)})"


def atom(code: str) -> str:
    """``code`` wrapped in parentheses unless it already binds tighter than ``.``."""
    try:
        node = cst.parse_expression(code)
    except cst.ParserSyntaxError:
        return f"({code})"
    if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer,
                         cst.Float, cst.SimpleString)) or node.lpar:
        return code
    return f"({code})"


def literal(b: Bound, name: str) -> Any:
    """A literal argument's value, or raise: some torch spellings depend on the value."""
    value = b.lit(name)
    if value is UNKNOWN:
        raise Unsupported(f"{b.op}({name}={b.args[name]}) must be a literal to convert")
    return value


def node_code(node: cst.CSTNode) -> str:
    return code_of(node)
