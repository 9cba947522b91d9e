"""``self.v = tf.Variable(value)`` / ``keras.Variable(value)`` in a subclass → torch state.

A trainable variable is an ``nn.Parameter`` (optimised, ported by its attribute name); one made
with ``trainable=False`` is a buffer (saved with the module, moved with ``.to()``, never
optimised), as Keras treats it. A variable made from an initializer object called with a
shape (``glorot_uniform()(shape=...)``) is the ``add_weight`` it means. A variable the class
later changes in place (``.assign``) keeps Keras's API, which torch tensors lack: refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from agent.rules.imports import ImportTable
from agent.rules.ops.rewrite import rewrite_node
from agent.rules.spec import Unsupported
from agent.rules.values import code_of, evaluate

VARIABLES = ("tensorflow.Variable", "keras.Variable", "keras.backend.variable")
# positional order of each constructor
_ORDER = {"tensorflow.Variable": ("initial_value", "trainable"),
          "keras.Variable": ("initializer", "shape", "dtype", "trainable"),
          "keras.backend.variable": ("initial_value", "dtype", "name")}
_ASSIGNS = ("assign", "assign_add", "assign_sub", "scatter_update", "scatter_nd_update")
_FLOAT = (None, "float32", "tensorflow.float32", "keras.float32")


@dataclass(frozen=True)
class FromInitializer:
    """The variable is an initializer called with a shape: an ``add_weight`` call."""

    call: cst.Call  # self.add_weight(shape=..., initializer=..., trainable=...)


def _args(call: cst.Call, q: str) -> dict[str, cst.BaseExpression]:
    out: dict[str, cst.BaseExpression] = {}
    order = _ORDER[q]
    for i, a in enumerate(a for a in call.args if a.keyword is None):
        if a.star or i >= len(order):
            raise Unsupported(f"{code_of(call.func)}(...) with unexpected positional arguments")
        out[order[i]] = a.value
    for a in call.args:
        if a.keyword is not None:
            out[a.keyword.value] = a.value
    return out


def _dtype(node: cst.BaseExpression | None, imports: ImportTable) -> str | None:
    if node is None:
        return None
    v = evaluate(node)
    if v.known and isinstance(v.value, str):
        return v.value
    return imports.resolve(node) or code_of(node)


def _assigned_later(cls: cst.ClassDef, attr: str) -> bool:
    class V(cst.CSTVisitor):
        found = False

        def visit_Attribute(self, node: cst.Attribute) -> None:
            if node.attr.value in _ASSIGNS and code_of(node.value) == f"self.{attr}":
                V.found = True

    cls.visit(V())
    return V.found


def variable_lines(attr: str, call: cst.Call, imports: ImportTable, cls: cst.ClassDef
                   ) -> list[str] | FromInitializer | None:
    """Torch statements for ``self.<attr> = <Variable call>``; None if ``call`` is no
    Variable; ``FromInitializer`` when an add_weight says it better."""
    q = imports.resolve(call.func)
    if q not in VARIABLES:
        return None
    args = _args(call, q)
    value = args.get("initial_value", args.get("initializer"))
    if value is None:
        raise Unsupported(f"{code_of(call.func)}(...) without an initial value")
    trainable_v = evaluate(args["trainable"]) if "trainable" in args else None
    if trainable_v is not None and not trainable_v.known:
        raise Unsupported(f"{code_of(call.func)}(trainable={code_of(args['trainable'])}) "
                          "must be a literal")
    trainable = trainable_v is None or trainable_v.value is not False
    if _assigned_later(cls, attr):
        raise Unsupported(f"self.{attr} is a Keras variable changed in place (.assign): "
                          "torch tensors have no such method")
    dtype = _dtype(args.get("dtype"), imports)
    if ("shape" in args or isinstance(value, cst.SimpleString)
            or _initializer_call(value, imports) is not None):
        init, shape = _initializer_call(value, imports) or (value, args.get("shape"))
        if shape is None or dtype not in _FLOAT:
            raise Unsupported(f"{code_of(call.func)}(...) from an initializer without a "
                              "float32 shape")
        weight = cst.parse_expression(
            f"self.add_weight(shape={code_of(shape)}, initializer={code_of(init)}, "
            f'trainable={trainable}, name="{attr}")')
        assert isinstance(weight, cst.Call)
        return FromInitializer(weight)
    if dtype not in _FLOAT:
        raise Unsupported(f"{code_of(call.func)}(dtype={code_of(args['dtype'])})")
    new, problems = rewrite_node(value, imports, {})
    if problems:
        raise Unsupported("; ".join(problems))
    code = code_of(new)
    literal = evaluate(value)
    if literal.known and isinstance(literal.value, bool | int) and not isinstance(
            literal.value, float):
        if trainable:
            raise Unsupported(f"{code_of(call.func)}({code}): an integer variable cannot be "
                              "an nn.Parameter")
        tensor = f"torch.tensor({code}, dtype=torch.int32)"
    elif literal.known and isinstance(literal.value, float):
        tensor = f"torch.tensor({code})"
    else:
        tensor = code if "torch." in code else f"torch.as_tensor({code})"  # NumPy: its dtype
    if trainable:
        return [f"self.{attr} = nn.Parameter({tensor})"]
    return [f'self.register_buffer("{attr}", {tensor})']


def _initializer_call(node: cst.BaseExpression, imports: ImportTable
                      ) -> tuple[cst.BaseExpression, cst.BaseExpression | None] | None:
    """``keras.initializers.X(...)(shape=S[, dtype=...])`` → (the initializer, S)."""
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Call):
        return None
    q = imports.resolve(node.func.func)
    if q is None or not q.startswith("keras.initializers."):
        return None
    shape = next((a.value for a in node.args if a.keyword is not None
                  and a.keyword.value == "shape"), None)
    if shape is None:
        pos = [a.value for a in node.args if a.keyword is None]
        shape = pos[0] if pos else None
    dtypes = [a.value for a in node.args if a.keyword is not None and a.keyword.value == "dtype"]
    if dtypes and _dtype(dtypes[0], imports) not in _FLOAT:
        raise Unsupported(f"{code_of(node)}: initializer with dtype {code_of(dtypes[0])}")
    return node.func, shape
