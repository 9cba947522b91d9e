"""``call()`` of a Keras subclass → ``forward()``: layer calls, ops, layouts and shapes.

Walks the body in order. In straight-line code each local tensor has a known shape (when
the model's input shape is known) and a layout: channels-first once a conv-like layer has
permuted it, Keras order otherwise. A layer that needs the other layout gets a ``permute``
on its argument, so a straight conv stack permutes once on the way in and once on the way
out. Fused activations are applied at the call site (``F.relu(self.dense1(x))``). Inside
``if``/``for`` blocks shapes are unknown (Lazy modules) and tensors return to Keras order at
the block's end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import libcst as cst

from agent.rules import activations
from agent.rules.classes.layer_masks import CustomMask
from agent.rules.classes.layers import SubLayer, build, fake_shape
from agent.rules.classes.masks import Tracker
from agent.rules.imports import ImportTable
from agent.rules.layers.attention import TENSOR_CALL_ARGS, TensorArg
from agent.rules.models import lazy
from agent.rules.models.inline import substitute
from agent.rules.models.shapes import Shape
from agent.rules.ops.rewrite import rewrite_expression
from agent.rules.ops.spec import atom
from agent.rules.ops.table import OPS
from agent.rules.spec import Unsupported
from agent.rules.values import Value, code_of, evaluate, names_read

_CALL_KWARGS_DROPPED = ("training",)
# layers with several tensor inputs, in Keras's call order (keywords become positions)
_INPUT_KEYWORDS = {"MultiHeadAttention": ("query", "value", "key"),
                   # Keras cells: ``cell(inputs, states)`` (layers/cells.py)
                   **dict.fromkeys(("SimpleRNNCell", "GRUCell", "LSTMCell"),
                                   ("inputs", "states"))}
TORCH_INPUTS = "it receives torch tensors at run time: port it by hand"
# Keras layers whose call is ``call(inputs, training=None)``: ``self.drop(x, training)``
_TRAINING_SECOND = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                    "GaussianNoise", "GaussianDropout", "AlphaDropout", "BatchNormalization")


@dataclass(frozen=True)
class TVal:
    code: str
    shape: Shape | None = None  # Keras order, no batch; None = rank unknown
    layout: str = "keras"  # "keras" | "cf"
    tensor: bool = False
    mask: str | None = None  # the variable holding the mask Keras attached to it


def _to_cf(n: int) -> str:
    return ", ".join(["0", str(n - 1)] + [str(i) for i in range(1, n - 1)])


def _to_keras(n: int) -> str:
    return ", ".join(["0"] + [str(i) for i in range(2, n)] + ["1"])


class ForwardConverter:
    def __init__(self, imports: ImportTable, layers: dict[str, SubLayer],
                 names: dict[str, str]) -> None:
        self.returned: list[Shape | None] = []  # shapes of the returned tensors
        self.imports = imports
        self.layers = layers
        self.names = names  # training -> self.training
        self.env: dict[str, TVal] = {}
        self.first_layer_of_input: str | None = None
        self.kept: list[tuple[str, str]] = []  # (reason, source) of statements left as written
        self.methods: set[str] = set()  # the class's own methods (their parameters stay)
        self.keras_attrs: dict[str, str] = {}  # self.<attr> left a Keras object, and why
        # containers made in __init__ (``self.body = Sequential([...])``): the shape of the
        # tensor each is called on, which sizes its first layer (None: calls disagree)
        self.containers: set[str] = set()
        self.container_inputs: dict[str, Shape | None] = {}
        self.masks = Tracker()  # Keras's implicit masks, made explicit
        self.custom_masks: dict[str, CustomMask] = {}  # self.<attr> -> its layer's masks
        # a model's forward stores the mask Keras attaches to its returned tensor (the loss
        # skips those steps) as ``self.output_mask``; ``returns``: whether each return did
        self.store_output_mask = False
        self.returns: list[bool] = []

    # -- layouts -------------------------------------------------------------------------
    def layout_as(self, v: TVal, want: str) -> TVal:
        if not v.tensor or want == "any" or v.layout == want:
            return v
        if v.shape is None:
            if want == "keras" and v.layout == "cf":
                raise Unsupported("lost track of a channels-first tensor's rank")
            return replace(v, layout=want)
        if len(v.shape) < 2:  # (batch, features): one layout
            return replace(v, layout=want)
        n = len(v.shape) + 1
        perm = _to_cf(n) if want == "cf" else _to_keras(n)
        return replace(v, code=f"{atom(v.code)}.permute({perm})", layout=want)

    # -- expressions ---------------------------------------------------------------------
    def expr(self, node: cst.BaseExpression) -> TVal:
        if isinstance(node, cst.Call):
            self._note_container_input(node)
        if isinstance(node, cst.Name):
            if node.value in self.env:
                v = self.env[node.value]
                return replace(v, code=node.value)
            if node.value in self.names:
                return TVal(self.names[node.value])
            return TVal(node.value)
        if isinstance(node, cst.Call) and self._layer_attr(node) is not None:
            return self.layer_call(node)
        if isinstance(node, cst.Call) and code_of(node.func).startswith("self."):
            custom = self.custom_layer_call(node)
            if custom is not None:
                return custom
            self.masks.passed(node, self._masked())  # a sub-model may read the mask
        if isinstance(node, cst.Call) and self.imports.resolve(node.func) is not None:
            return self.op_call(node)
        if isinstance(node, cst.Call) and self.without_training(node) is not node:
            return self.generic(self.without_training(node))
        if isinstance(node, cst.BinaryOperation) and not node.lpar:
            return self.binary(node)
        if isinstance(node, cst.UnaryOperation) and not node.lpar:
            inner = self.expr(node.expression)
            new = node.with_changes(expression=cst.parse_expression(_paren(inner.code)))
            return replace(inner, code=code_of(new))
        return self.generic(node)

    def _note_container_input(self, call: cst.Call) -> None:
        f = call.func
        if not (isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name)
                and f.value.value == "self" and f.attr.value in self.containers):
            return
        pos = [a.value for a in call.args if a.keyword is None]
        v = self.env.get(pos[0].value) if len(pos) == 1 and isinstance(pos[0], cst.Name) \
            else None
        shape = v.shape if v is not None and v.tensor and v.layout == "keras" else None
        attr = f.attr.value
        seen = self.container_inputs.get(attr, shape)
        self.container_inputs[attr] = shape if seen == shape else None

    def _layer_attr(self, call: cst.Call) -> str | None:
        f = call.func
        if (isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name)
                and f.value.value == "self" and f.attr.value in self.layers):
            return f.attr.value
        return None

    def without_training(self, call: cst.Call) -> cst.Call:
        """``self.sub(x, training)`` / ``self.sub(x, training=t)`` of a sub-model or converted
        layer (a torch module): its mode is the parent's train()/eval(), and its forward has
        no training parameter. The class's own methods keep their arguments."""
        name = code_of(call.func)
        if not name.startswith("self.") or name[5:] in self.methods:
            return call
        args = [a for a in call.args if (a.keyword is None and not self.is_training_flag(a.value))
                or (a.keyword is not None and a.keyword.value not in _CALL_KWARGS_DROPPED)]
        if len(args) == len(call.args):
            return call
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return call.with_changes(args=args)

    def call_keywords(self, attr: str, layer: SubLayer, call: cst.Call, pos: list[cst.Arg]
                      ) -> dict[str, Value]:
        """Keyword arguments of a layer call: inputs by name (``mha(query=q, value=v)``) are
        appended to ``pos`` in Keras's order; a mask given as None is the default; the call
        arguments the layer's build reads are returned; anything else is refused."""
        named = [a for a in call.args if a.keyword is not None
                 and a.keyword.value not in _CALL_KWARGS_DROPPED]
        for k, name in enumerate(_INPUT_KEYWORDS.get(layer.keras_name, ())):
            given = [a for a in named if a.keyword is not None and a.keyword.value == name]
            if not given:
                continue
            if len(pos) != k:
                raise Unsupported(f"self.{attr}({name}=...) without the inputs before it")
            pos.append(given[0])
            named.remove(given[0])
        out: dict[str, Value] = {}
        for a in named:
            assert a.keyword is not None
            name = a.keyword.value
            if name in layer.spec.call_args and code_of(a.value) == "None":
                continue
            if name in TENSOR_CALL_ARGS.get(layer.keras_name, ()):
                out[name] = TensorArg(self.layout_as(self.expr(a.value), "keras").code)
                continue
            v = evaluate(a.value)
            if name not in layer.spec.call_args or not v.known:
                raise Unsupported(f"self.{attr}({name}=...) has no torch mapping")
            out[name] = v
        return out

    def is_training_flag(self, node: cst.BaseExpression) -> bool:
        """``training`` as call() received it (forward reads ``self.training`` instead)."""
        if isinstance(node, cst.Name):
            return self.names.get(node.value) == "self.training"
        return code_of(node) == "self.training" and "training" in self.names  # substituted

    def layer_call(self, call: cst.Call) -> TVal:
        attr = self._layer_attr(call)
        assert attr is not None
        layer = self.layers[attr]
        pos = [a for a in call.args if a.keyword is None]
        if (len(pos) == 2 and layer.keras_name in _TRAINING_SECOND
                and self.is_training_flag(pos[1].value)):
            pos = pos[:1]  # the mode is the module's train()/eval(), as for training=
        call_kwargs = self.call_keywords(attr, layer, call, pos)
        inputs = _INPUT_KEYWORDS.get(layer.keras_name, ())
        if not pos or any(a.star for a in pos) or (len(pos) > 1 and len(pos) > len(inputs)):
            raise Unsupported(f"self.{attr}(...) with {len(pos)} positional arguments")
        arg = pos[0].value
        items = [self.expr(e.value) for e in arg.elements] if isinstance(
            arg, (cst.List, cst.Tuple)) and arg.elements else None  # merge([a, b])
        if len(pos) > 1:  # mha(query, value[, key]): each input's shape reaches the build
            items = [self.expr(a.value) for a in pos]
        x = items[0] if items else self.expr(arg)
        if isinstance(arg, cst.Name) and self.first_layer_of_input is None:
            self.first_layer_of_input = layer.keras_name
        # several inputs: the build sees one shape, so the output's sizes stay unknown
        shape = x.shape if x.tensor and not (items and len(items) > 1) else None
        more: list[Shape | None] = []
        if len(pos) > 1 and items:
            shape, more = items[0].shape, [v.shape for v in items[1:]]
        elif items and len(items) > 1:  # merge([a, b]): the build writes one {xk} per input
            more = [None] * (len(items) - 1)
        built = build(layer, shape, x.layout, more, call_kwargs)
        if x.tensor and x.shape is None and built.layout == "cf":
            x = replace(x, shape=fake_shape(layer))  # the layer fixes the rank: permute works
            if isinstance(arg, cst.Name) and arg.value in self.env:  # later reads know it too
                self.env[arg.value] = replace(self.env[arg.value],
                                              shape=lazy.unknown_shape(layer.keras_name))
        first = layer.built is None
        if first:
            layer.built = built
        want = built.layout if built.layout != "any" else x.layout
        if built.layout == "any" and x.layout == "cf":
            built = build(layer, shape, "cf", more, call_kwargs)  # layout-aware (axis arguments)
        x = self.layout_as(x, want)
        modules = layer.built.modules if layer.built is not None else built.modules
        subs = {"{m}": f"self.{attr}", "{x}": x.code, "{x0}": x.code, "{xs}": f"[{x.code}]"}
        if items:
            codes = [self.layout_as(v, want).code for v in items]
            subs |= {"{x}": codes[0], "{xs}": f"[{', '.join(codes)}]",
                     **{f"{{x{k}}}": c for k, c in enumerate(codes)}}
        for suffix, _ in modules:
            if suffix:
                subs["{m_" + suffix + "}"] = f"self.{attr}_{suffix}"
        code, mask = self.masks.call(layer, built, x.code, x.mask,
                                     set(self.env) | set(self.names))
        for k, v in subs.items():
            if k + "." in code or k + "[" in code:  # (k * v).flatten(1): an operand first
                code = code.replace(k + ".", _paren(v) + ".").replace(k + "[", _paren(v) + "[")
            code = code.replace(k, v)
        out_layout = built.out_layout or want
        out = built.out if isinstance(built.out, tuple) else None
        rank = len(out) if out is not None else 1
        code = activations.apply(built.activation, code, 1 if out_layout == "cf" and rank >= 2
                                 else -1)
        if "{" in code:
            raise Unsupported(f"{layer.keras_name}: forward template {built.forward!r}")
        if shape is None and (lazy.keeps_shape(layer.keras_name)
                              or not lazy.rank_implied(layer.keras_name)):
            out = None  # built against a guessed rank: the output's rank is still unknown
        ranks = {len(v.shape) for v in items or () if v.shape is not None}
        if out is None and layer.keras_name in lazy.ELEMENTWISE_MERGES and len(ranks) == 1:
            out = (None,) * ranks.pop()  # Add()([x, inputs]): the inputs' rank, sizes unknown
        return TVal(code, out if out else None, out_layout, True, mask)

    def op_call(self, call: cst.Call) -> TVal:
        q = self.imports.resolve(call.func)
        op = OPS.get(q) if q is not None else None
        elementwise = op is not None and op.elementwise
        vals = [self.expr(a.value) for a in call.args]
        tensors = [v for v in vals if v.tensor]
        layouts = {v.layout for v in tensors}
        want = layouts.pop() if elementwise and len(layouts) == 1 else "keras"
        vals = [self.layout_as(v, want) for v in vals]
        args = [a.with_changes(value=cst.parse_expression(v.code))
                for a, v in zip(call.args, vals, strict=True)]
        new, problems = rewrite_expression(call.with_changes(args=args), self.imports, {})
        if problems:
            raise Unsupported("; ".join(problems))
        shape = tensors[0].shape if elementwise and tensors and all(
            t.shape == tensors[0].shape for t in tensors) else None
        return TVal(code_of(new), shape, want if tensors else "keras", bool(tensors))

    def binary(self, node: cst.BinaryOperation) -> TVal:
        left, right = self.expr(node.left), self.expr(node.right)
        if left.tensor and right.tensor and left.layout != right.layout:
            left, right = self.layout_as(left, "keras"), self.layout_as(right, "keras")
        new = node.with_changes(
            left=cst.parse_expression(_operand(left.code, node.operator, "left")),
            right=cst.parse_expression(_operand(right.code, node.operator, "right")))
        tensors = [v for v in (left, right) if v.tensor]
        shape = None
        if len(tensors) == 1 or (len(tensors) == 2 and left.shape == right.shape):
            shape = tensors[0].shape
        layout = tensors[0].layout if tensors else "keras"
        return TVal(code_of(new), shape, layout, bool(tensors))

    def generic(self, node: cst.BaseExpression) -> TVal:
        """Any other expression: tensors inside go back to Keras order; shape unknown."""
        sub = _Substitute(self)
        new = node.visit(sub)
        assert isinstance(new, cst.BaseExpression)
        new, problems = rewrite_expression(new, self.imports, {})
        if problems:
            raise Unsupported("; ".join(problems))
        return TVal(code_of(new), None, "keras", sub.tensor)

    def custom_layer_call(self, node: cst.Call) -> TVal | None:
        """``self.<attr>(x, ...)`` of a custom layer whose masks Keras handles (layer_masks.py):
        given the mask keywords the script's Keras passes, its output's mask from its
        ``compute_mask`` over the first tensor or that tensor's, passed on. None: not such a
        layer, or called on a list or by keyword (``passed``)."""
        func = node.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value == "self" and func.attr.value in self.custom_masks):
            return None
        facts = self.custom_masks[func.attr.value]
        pos = [a for a in node.args if a.keyword is None and not a.star]
        if not pos or len(pos) != len(node.args) or any(
                not isinstance(a.value, cst.Name) or a.value.value not in self.env for a in pos):
            if facts.computes:
                self.masks.failed = True  # its mask, over a list or keywords: not made
                self.masks.custom_sources.append(func.attr.value)
            return None
        xs = [self.env[a.value.value] for a in pos if isinstance(a.value, cst.Name)]
        keywords = facts.call_masks([x.mask for x in xs])
        if keywords is None:  # Keras 2 and 3 pass different masks: the script does not say
            self.masks.failed = True
            return None
        x = xs[0]
        mask = x.mask
        call = node
        if keywords:
            self.masks.used.update(keywords.values())
            tight = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                    whitespace_after=cst.SimpleWhitespace(""))
            args = [*pos[:-1], pos[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
            call = node.with_changes(args=[*args, *(
                cst.Arg(cst.Name(m), keyword=cst.Name(k), equal=tight)
                for k, m in keywords.items())])
        v = self.generic(call)
        out = mask if facts.passes else None
        if facts.computes:
            x_code = self.layout_as(replace(x, code=cst.ensure_type(pos[0].value, cst.Name).value),
                                    "keras").code
            out = self.masks.computed(func.attr.value, x_code, mask, set(self.env) | set(self.names))
        return replace(v, mask=out)

    # -- statements ----------------------------------------------------------------------
    def block(self, body: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for stmt in body:
            try:
                if isinstance(stmt, cst.SimpleStatementLine):
                    kept = self.keras_object_call(stmt)
                    if kept is not None:
                        raise Unsupported(kept)
                    out += self.simple(stmt)
                else:
                    out += self.back_to_keras()
                    out.append(self.compound(stmt))
            except Unsupported as exc:  # this statement only: the others still convert
                self.masks.pending.clear()
                out += self.back_to_keras()
                out.append(self.keep(stmt, str(exc)))
        return out

    def keras_object_call(self, stmt: cst.BaseStatement) -> str | None:
        """Why ``stmt`` stays as written: it calls a Keras layer ``__init__`` kept."""
        for attr, why in self.keras_attrs.items():
            if _reads(stmt, "self") and f"self.{attr}(" in cst.Module([]).code_for_node(stmt):
                return f"self.{attr} is a Keras object left as written ({why})"
        return None

    def keep(self, stmt: cst.BaseStatement, reason: str) -> cst.BaseStatement:
        """Left as written, marked; the names it binds lose their tracked shapes. A kept
        statement that reads a tensor gets torch tensors at run time: its record says so."""
        if any(v.tensor for n, v in self.env.items() if _reads(stmt, n)):
            reason += f" ({TORCH_INPUTS})"
        self.kept.append((reason, cst.Module([]).code_for_node(stmt).strip()))
        # names forward() no longer has (training -> self.training) are renamed even here
        stmt = substitute(stmt, {k: cst.parse_expression(v) for k, v in self.names.items()})
        for target in _bound_names(stmt):
            self.env[target] = TVal(target, None, "keras", True)
        if isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            comment = cst.Comment(f"# TODO(k2l): not converted: {reason}"[:300])
            return stmt.with_changes(leading_lines=[*stmt.leading_lines,
                                                    cst.EmptyLine(comment=comment)])
        return stmt

    def back_to_keras(self) -> list[cst.BaseStatement]:
        stmts: list[cst.BaseStatement] = []
        for name, v in list(self.env.items()):
            if v.layout == "cf":
                self.env[name] = self.layout_as(replace(v, code=name), "keras")
                stmts.append(cst.parse_statement(
                    f"{name} = {self.env[name].code}  # back to channels last (Keras order)\n"))
                self.env[name] = replace(self.env[name], code=name)
        return stmts

    def compound(self, stmt: cst.BaseStatement) -> cst.BaseStatement:
        if isinstance(stmt, cst.Try) or isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            raise Unsupported(f"{type(stmt).__name__} statement in call()")
        for name, v in list(self.env.items()):
            self.env[name] = replace(v, shape=None)  # branches: shapes no longer tracked
        transformer = _Bodies(self)
        new = stmt.visit(transformer)
        assert isinstance(new, cst.BaseStatement)
        return new

    def simple(self, stmt: cst.SimpleStatementLine) -> list[cst.BaseStatement]:
        before: list[cst.BaseStatement] = []
        smalls: list[cst.BaseSmallStatement] = []
        stored: list[str] = []
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                v = self.expr(small.value)
                targets = small.targets
                if len(targets) == 1 and isinstance(targets[0].target, cst.Name):
                    self.env[targets[0].target.value] = replace(v, code=targets[0].target.value)
                else:
                    v = self.layout_as(v, "keras")
                    for t in targets:
                        for n in _names(t.target):
                            self.env[n] = TVal(n, None, "keras", v.tensor)
                smalls.append(small.with_changes(value=cst.parse_expression(v.code)))
            elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
                name = small.target.value
                if name in self.env and self.env[name].layout == "cf":
                    before += self.back_to_keras()
                v = self.layout_as(self.expr(small.value), "keras")
                smalls.append(small.with_changes(value=cst.parse_expression(v.code)))
            elif isinstance(small, cst.Return) and small.value is not None:
                v = self.layout_as(self.expr(small.value), "keras")
                if self.store_output_mask and v.mask is not None and not isinstance(
                        small.value, (cst.Tuple, cst.List)):
                    self.masks.used.add(v.mask)
                    stored.append(f"self.output_mask = {v.mask}")
                else:
                    self.masks.returned(v.mask, small.value, self._masked())  # the loss reads it
                self.returns.append(bool(stored))
                self.returned.append(v.shape)
                smalls.append(small.with_changes(value=cst.parse_expression(v.code)))
            elif isinstance(small, cst.Expr):
                v = self.layout_as(self.expr(small.value), "keras")
                smalls.append(small.with_changes(value=cst.parse_expression(v.code)))
            else:
                new, problems = _rewrite_small(small, self)
                smalls.append(new)
        before += [cst.parse_statement(s + "\n") for s in [*self.masks.pending, *stored]]
        self.masks.pending.clear()
        return [*before, stmt.with_changes(body=smalls)]

    def _masked(self) -> set[str]:
        return {n for n, v in self.env.items() if v.mask is not None}


def _reads(node: cst.CSTNode, name: str) -> bool:
    return any(n.value == name for n in names_read(node))


def _bound_names(stmt: cst.BaseStatement) -> list[str]:
    out: list[str] = []
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                for t in small.targets:
                    out += _names(t.target)
    return out


def _paren(code: str) -> str:
    node = cst.parse_expression(code)
    if isinstance(node, (cst.BinaryOperation, cst.BooleanOperation, cst.Comparison,
                         cst.IfExp, cst.Lambda)) and not node.lpar:
        return f"({code})"
    return code


# Python's binary operator precedence, lowest first (``a | b`` binds less than ``a + b``)
_PRECEDENCE: dict[type, int] = {
    cst.BitOr: 1, cst.BitXor: 2, cst.BitAnd: 3, cst.LeftShift: 4, cst.RightShift: 4,
    cst.Add: 5, cst.Subtract: 5, cst.Multiply: 6, cst.Divide: 6, cst.FloorDivide: 6,
    cst.Modulo: 6, cst.MatrixMultiply: 6, cst.Power: 8,
}
_UNARY = 7  # -x: above * and below **


def _operand(code: str, parent: cst.BaseBinaryOp, side: str) -> str:
    """``code`` as the ``side`` operand of ``parent``, parenthesised only where Python's
    precedence needs it (``a * b + c`` stays as written; ``(a + b) * c`` keeps its pair)."""
    node = cst.parse_expression(code)
    if node.lpar:
        return code
    outer = _PRECEDENCE[type(parent)]
    if isinstance(node, cst.BinaryOperation):
        inner = _PRECEDENCE[type(node.operator)]
        right_assoc = isinstance(parent, cst.Power)  # a ** b ** c is a ** (b ** c)
        keep = inner > outer or (inner == outer and side == ("right" if right_assoc
                                                              else "left"))
        return code if keep else f"({code})"
    if isinstance(node, cst.UnaryOperation) and not isinstance(node.operator, cst.Not):
        return code if _UNARY > outer or side == "right" else f"({code})"
    return _paren(code)


def _names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for el in target.elements for n in _names(el.value)]
    return []


def _rewrite_small(small: cst.BaseSmallStatement, conv: ForwardConverter
                   ) -> tuple[cst.BaseSmallStatement, list[str]]:
    new, problems = rewrite_expression_node(small, conv)
    if problems:
        raise Unsupported("; ".join(problems))
    return new, problems


def rewrite_expression_node(small: cst.BaseSmallStatement, conv: ForwardConverter
                            ) -> tuple[cst.BaseSmallStatement, list[str]]:
    from agent.rules.ops.rewrite import rewrite_node

    new, problems = rewrite_node(small, conv.imports, conv.names)
    assert isinstance(new, cst.BaseSmallStatement)
    return new, problems


class _Substitute(cst.CSTTransformer):
    """Layer calls and tensor names inside an arbitrary expression, in Keras order."""

    def __init__(self, conv: ForwardConverter) -> None:
        super().__init__()
        self.conv = conv
        self.done: dict[int, cst.BaseExpression] = {}
        self.tensor = False
        self.protected: set[int] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.protected.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.protected.add(id(node.keyword))

    def visit_Call(self, node: cst.Call) -> bool:
        if self.conv._layer_attr(node) is not None:
            v = self.conv.layout_as(self.conv.layer_call(node), "keras")
            self.done[id(node)] = cst.parse_expression(_paren(v.code))
            self.tensor = True
            return False
        return True

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if id(original_node) in self.done:
            return self.done[id(original_node)]
        return self.conv.without_training(updated_node)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        if id(original_node) in self.protected:
            return updated_node
        v = self.conv.env.get(original_node.value)
        if v is not None:
            self.tensor = self.tensor or v.tensor
            if v.layout == "cf":
                return cst.parse_expression(_paren(self.conv.layout_as(
                    replace(v, code=original_node.value), "keras").code))
            return updated_node
        if original_node.value in self.conv.names:
            return cst.parse_expression(self.conv.names[original_node.value])
        return updated_node


class _Bodies(cst.CSTTransformer):
    """Converts the statement blocks inside a compound statement (and its test/iter)."""

    def __init__(self, conv: ForwardConverter) -> None:
        super().__init__()
        self.conv = conv
        self.depth = 0

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> bool:
        return False

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock,
                            updated_node: cst.IndentedBlock) -> cst.IndentedBlock:
        body = self.conv.block(list(original_node.body))
        body += self.conv.back_to_keras()
        return updated_node.with_changes(body=body)

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.If:
        return updated_node.with_changes(test=cst.parse_expression(
            self.conv.generic(original_node.test).code))

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.While:
        return updated_node.with_changes(test=cst.parse_expression(
            self.conv.generic(original_node.test).code))

    def visit_For(self, node: cst.For) -> None:
        for n in _names(node.target):
            self.conv.env[n] = TVal(n, None, "keras", True)

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        return updated_node.with_changes(iter=cst.parse_expression(
            self.conv.generic(original_node.iter).code))
