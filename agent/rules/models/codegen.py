"""ModelIR → the source of a LightningModule class.

Layout policy: tensors keep the layout the caller gave (Keras's channels_last); the first
layer that needs channels-first permutes once, and we permute back only where Keras
semantics need the channel axis last again (Flatten, Dense, Reshape, the model's outputs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.rules import activations
from agent.rules.classes.layer_masks import CustomMask
from agent.rules.layers import keras_weights
from agent.rules.models import (
    block_class,
    constants,
    init_block,
    lazy,
    masks,
    open_sizes,
    rolled_loops,
    signature,
    view_outputs,
)
from agent.rules.models.forward_params import array_params, keep_in_forward
from agent.rules.models.graph import Call, Layer, ModelIR, Tensor
from agent.rules.models.sequential import Step, positions, stack
from agent.rules.models.shapes import Shape
from agent.rules.spec import BuildContext, Built, Layout, NotStatic, Unsupported
from agent.rules.training import activity
from agent.rules.training.custom_regularizers import Custom
from agent.rules.training.regularizers import REGULARIZED, Penalty

IND = "    "
# a layer reading a channels-first tensor whose rank the rules lost: no permute can be written
LOST_LAYOUT = ("a channels-first tensor of unknown rank (its channels cannot be put back "
               "last): not converted")


@dataclass
class Generated:
    code: str
    warnings: list[tuple[int, str]] = field(default_factory=list)
    unmapped: list[tuple[int, str, str]] = field(default_factory=list)  # line, keras, reason
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # line, rule, message
    lazy: bool = False
    sized: bool = False  # its Lazy modules are sized by a dry call in __init__
    sized_layers: list[str] = field(default_factory=list)  # custom layer classes it sizes
    mask_readers: list[str] = field(default_factory=list)  # ... given Keras's masks (masks.py)
    regularized: bool = False  # the class has regularization_loss()
    masked_output: bool = False  # forward stores its output's Keras mask (masks.py)
    blocks: list[str] = field(default_factory=list)  # classes of repeated helpers, before it


def _perm_to_cf(n: int) -> str:
    return ", ".join(["0", str(n - 1)] + [str(i) for i in range(1, n - 1)])


def _perm_to_keras(n: int) -> str:
    return ", ".join(["0"] + [str(i) for i in range(2, n)] + ["1"])


def _spatial(shape: Shape | None) -> bool:
    return shape is not None and len(shape) >= 2


def _submodel_ctor(sub: ModelIR) -> str:
    """``Base(dim=dim)``: a sub-model built in the parent's block takes the parent's values
    of its parameters (``Base()`` would silently use its defaults)."""
    return f"{sub.class_name}({', '.join(f'{p.name}={p.passed or p.name}' for p in sub.params)})"


def _example(t: Tensor) -> str:
    dims = ["1"] + [str(d) if d is not None else str(t.example) for d in (t.shape or ())]
    dtype = ", dtype=torch.long" if t.dtype == "long" else ""
    return f"torch.zeros({', '.join(dims)}{dtype})"


class _Emitter:
    def __init__(self, ir: ModelIR, lazy_layers: dict[str, bool] | None = None,
                 unique: Callable[[str], str] | None = None,
                 mask_layers: dict[str, CustomMask] | None = None) -> None:
        self.ir = ir
        self.unique = unique or (lambda name: name)  # class names not taken in the file
        self.spans: list[block_class.Span] = []  # the forward lines of each call
        self.attrs: dict[int, list[str]] = {}  # id(layer) -> its module attributes
        self.fixed: set[int] = set()  # layers that cannot move into a helper's module
        self.lazy_fixed: set[int] = set()  # fixed only as lazy: movable when a dry call sizes
        self.lazy_layers = lazy_layers or {}  # custom layer class -> has keras_init()
        self.lazy_custom: list[Layer] = []  # instances of those classes in this model
        self.gen = Generated("")
        self.init_lines: list[str] = []
        self.declared: list[tuple[int, list[str]]] = []  # (creation order, __init__ lines)
        self.inits: list[tuple[str, tuple[str, ...]]] = []  # attr, init templates
        self.entries: list[init_block.Entry] = []  # every declared layer, for the init loop
        # lazy layers: the entry they get once a dry call has sized them, and the warnings
        # that call answers (reported only when there is no dry call)
        self.sized_entries: dict[str, init_block.Entry] = {}
        self.lazy_warnings: list[tuple[int, str]] = []
        # without a dry call, lazy layers with Keras initializers: (line, Keras name, entry of
        # the sized module), initialised on the first batch
        self.lazy_entries: list[tuple[int, str, init_block.Entry]] = []
        self.buffers: list[str] = []
        self.constant_reads: dict[int, str] = {}  # id(constant tensor) -> what forward reads
        self.constant_seq: dict[int, int] = {}  # id(constant tensor) -> its __init__ place
        self.penalties: list[str] = []  # Keras regularizer terms
        self.hooks = False  # activity regularizer hooks in __init__
        self.body: list[str] = []
        self.layout: dict[int, Layout] = {}  # id(tensor) -> current layout of its variable
        self.built: dict[int, Built] = {}  # id(layer) -> first build
        self.failed = False
        self.kept: dict[int, str] = {}  # id(layer) -> why it stays a Keras layer
        # tensor and layer variables of the Keras code: a kept constructor must not read them
        self.graph_names = {t.name for c in ir.calls for t in (*c.inputs, *c.outputs)} | {
            t.name for t in ir.inputs} | set(ir.graph_names)
        self.steps: list[Step] = []  # each layer's first build, for an nn.Sequential
        self.init_loop: list[str] = []
        self.returned: str | None = None  # forward's return expression when body is empty
        self.masks = masks.plan(ir, mask_layers)  # Keras's implicit masks, made explicit
        self.gen.mask_readers = masks.mask_readers(ir, self.masks, mask_layers)
        if self.masks is None:
            self.gen.warnings += masks.unreproduced(ir, mask_layers)
        if self.masks is not None:  # the mask variables cross helper calls: no block classes
            self.fixed.update(id(c.layer) for c in ir.calls)

    # -- layers ---------------------------------------------------------------------------
    def build(self, layer: Layer, call: Call, layout: Layout) -> Built | None:
        shapes = [t.shape for t in call.inputs]
        if all(self.layout.get(id(t), "keras") == "keras" for t in call.inputs):
            shapes = lazy.sibling_shapes(layer.keras_name, shapes)
        if layer.error:
            return self._keep(layer, call, layer.error)
        if layer.submodel is not None or layer.custom_ctor is not None:
            sub = layer.submodel
            ctor = layer.custom_ctor or (_submodel_ctor(sub) if sub is not None else "")
            out = sub.outputs[0].shape if sub is not None and sub.outputs else None
            if layer.shape_rule is not None:  # the sub-model's sizes in this class's names
                out = layer.shape_rule(shapes)
            # several inputs: a custom layer called on one list gets the list, as Keras
            # passes it; a converted sub-model, or a custom layer called with one tensor per
            # positional argument, takes them as forward's positional parameters
            listed = sub is None and len(call.inputs) > 1 and call.listed
            if sub is None and len(call.inputs) > 1 and not listed and not call.positional:
                self._fail(layer, f"{layer.keras_name} called with {len(call.inputs)} tensors: "
                           "not converted (one would be dropped)")
                return None
            args = "{xs}" if listed else "{xargs}"
            is_lazy = sub is None and layer.keras_name in self.lazy_layers
            if is_lazy and all(lyr is not layer for lyr in self.lazy_custom):
                self.lazy_custom.append(layer)
            return Built(out=out if out is not None else (), forward=f"{{m}}({args})",
                         modules=(("", ctor),), layout="keras", lazy=is_lazy or layer.lazy_ctor,
                         lazy_init=layer.lazy_init, warnings=layer.warnings)
        if layer.lambda_expr is not None:
            if layer.kept and id(layer) not in self.built:
                self.gen.unmapped.append((layer.line, layer.keras_name, layer.kept))
            shape = shapes[0] if layer.lambda_elementwise and shapes else None
            if layer.shape_rule is not None:
                shape = layer.shape_rule(shapes)
            batched = [t.shape for t in call.inputs if not t.constant]
            if len(batched) < len(call.inputs) and batched:  # a buffer broadcast over the
                shape = batched[0]  # batch (constants.py): the batched input's shape
            return Built(out=shape if shape is not None else (), forward=layer.lambda_expr,
                         layout="keras")
        assert layer.spec is not None and layer.args is not None
        extra = [k for k, v in call.call_kwargs.items()
                 if k not in layer.spec.call_args and not (k == "training" and v.value is None)
                 and not (k == "mask" and self.masks is not None
                          and id(call) in self.masks.explicit)]
        if extra:  # e.g. Dropout(...)(x, training=True): a fixed mode, or a mask we would drop
            value = call.call_kwargs[extra[0]].code
            self._fail(layer, f"{layer.keras_name} called with {extra[0]}={value}: not converted")
            return None
        ctx = BuildContext(layout_of_input=layout, inner_args=layer.inner_args,
                           inner_spec=layer.inner_spec, call_kwargs=call.call_kwargs,
                           input_names=tuple(t.name for t in call.inputs))
        # after a custom layer (or from data) a shape can be unknown: the right rank, sizes
        # unknown; a layer that needs its input size then gets its nn.Lazy form
        if any(s is None for s in shapes) and layer.keras_name in lazy.ELEMENTWISE_MERGES \
                and all(self.layout.get(id(t), "keras") == "keras" for t in call.inputs):
            return keras_weights.loaded(layer.args, layer.spec.build(
                layer.args, [s or (None,) for s in shapes], ctx))  # any rank: output unknown
        if any(s is None for s in shapes) and layer.keras_name == "Softmax" \
                and layer.args is not None and layer.args.value("axis") != -1:
            axis = layer.args.value("axis")
            if type(axis) is int and not call.call_kwargs and all(
                    self.layout.get(id(t), "keras") == "keras" for t in call.inputs):
                # Keras's own axis order whatever the rank (no channels-first permute
                # upstream): Keras's axis counts the batch as torch's dim does
                return Built(out=(), forward=f"F.softmax({{x}}, dim={axis})")
            return self._keep(layer, call, "Softmax: the input's rank is unknown here (after "
                              "an operation the rules do not size): its axis cannot be placed")
        if any(s is None for s in shapes) and layer.keras_name == "Concatenate" \
                and layer.args is not None and type(layer.args.value("axis")) is int \
                and all(self.layout.get(id(t), "keras") == "keras" for t in call.inputs):
            # Keras's axis order whatever the rank (as Softmax above): a custom layer's list
            # items, weighed and concatenated along Keras's own axis; the output's shape
            # stays unknown (out=[]), so a Dense after it is an nn.LazyLinear
            return Built(out=[], forward=f"torch.cat({{xs}}, dim={layer.args.value('axis')})")
        if any(s is None for s in shapes) and not lazy.rank_implied(layer.keras_name):
            if self.failed:
                return None
            if layer.keras_name == "BatchNormalization" and len(shapes) == 1:
                try:  # a Sequential builder without an input shape: any rank works
                    return lazy.any_rank(layer.keras_name, lazy.lazify(
                        layer.keras_name, layer.spec.build(
                            layer.args, [lazy.fake_shape(layer.keras_name)], ctx)))
                except (Unsupported, NotStatic, KeyError, TypeError, ValueError):
                    pass
            return self._keep(layer, call, f"{layer.keras_name}: the input's rank is unknown "
                              "here (after a layer the rules do not know)")
        known = [s if s is not None else lazy.unknown_shape(layer.keras_name) for s in shapes]
        first: Exception
        try:
            return keras_weights.loaded(layer.args, layer.spec.build(layer.args, known, ctx))
        except (Unsupported, NotStatic) as exc:
            first = exc
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            first = Unsupported(f"{layer.keras_name}: cannot be built for input shape "
                                f"{_shape_text(known)}")
        if known and known[0] and known[0][-1] is None:
            marked = [tuple(known[0][:-1]) + (lazy.LAZY,), *known[1:]]
            try:
                built = lazy.lazify(layer.keras_name, layer.spec.build(layer.args, marked, ctx),
                                    keep_init=True)
            except (Unsupported, NotStatic, KeyError, TypeError, ValueError, IndexError,
                    AttributeError):
                built = None
            if built is not None:
                return built
        if self.failed and any(s is None for s in shapes):  # a knock-on effect: not reported
            return None
        return self._keep(layer, call, str(first) or type(first).__name__)

    def _fail(self, layer: Layer, reason: str) -> None:
        self.failed = True
        self.gen.unmapped.append((layer.line, layer.keras_name, reason))

    def _keep(self, layer: Layer, call: Call, reason: str) -> Built | None:
        """Statement granularity: a one-input layer the rules cannot map stays a Keras layer
        inside the converted class (marked, reported); the rest of the model converts."""
        if len(call.inputs) != 1 or not layer.source or call.call_kwargs \
                or layer.submodel is not None or layer.free & self.graph_names:
            self._fail(layer, reason)
            return None
        self.gen.unmapped.append((layer.line, layer.keras_name, reason))
        self.kept[id(layer)] = reason
        return Built(out=(), forward="{m}({x})", modules=(("", layer.source),), layout="keras")

    # -- layouts --------------------------------------------------------------------------
    def convert(self, t: Tensor, want: Layout, rank: int | None = None) -> bool:
        """Permutes ``t`` to ``want``; False when it cannot: a channels-first tensor whose
        rank is unknown (the layer's own rank, ``rank``, is a guess there, e.g. Dense's 1)."""
        have = self.layout.get(id(t), "keras")
        if want == "any" or have == want:
            return True
        if t.shape is None and have == "cf":
            return False
        if t.shape is not None:
            rank = len(t.shape)
        if rank is None or rank < 2:
            return True
        n = rank + 1
        if want == "cf":
            perm, note = _perm_to_cf(n), "channels last -> channels first"
        else:
            perm, note = _perm_to_keras(n), "back to channels last (Keras order)"
        source = self.constant_reads.pop(id(t), t.name)  # a buffer: a local from here on
        self.body.append(f"{t.name} = {source}.permute({perm})  # {note}")
        self.layout[id(t)] = want
        return True

    # -- calls ----------------------------------------------------------------------------
    def call(self, call: Call) -> None:
        layer = call.layer
        if layer.constant is not None or call.inputs and all(t.constant for t in call.inputs):
            self._constant(call)
            return
        if any(t.constant for t in call.inputs):
            self.fixed.add(id(layer))  # forward reads a buffer: no helper's module
        first = id(layer) not in self.built
        want_probe = self.layout.get(id(call.inputs[0]), "keras") if call.inputs else "keras"
        built = self.build(layer, call, want_probe)
        if built is None:
            return
        want: Layout
        if built.layout != "any":
            want = built.layout
        else:
            spatial = [t for t in call.inputs if _spatial(t.shape)]
            want = self.layout.get(id(spatial[0]), "keras") if spatial else "keras"
        start = len(self.body)
        for t in call.inputs:
            rank = len(lazy.unknown_shape(layer.keras_name)) if t.shape is None else None
            if not self.convert(t, want, rank):  # an unknown shape: the layer fixes the rank
                self._fail(layer, f"{layer.keras_name} reads {LOST_LAYOUT}")
                return
        mid = len(self.body)
        if built.layout == "any" and want != want_probe:
            built = self.build(layer, call, want) or built
        if self.masks is not None:
            masked = masks.apply(self.masks, call, built, self.body)
            if masked is None:
                self.gen.warnings.append((layer.line, f"{layer.keras_name}: {masks.NOT_MASKED_WARNINGS[0]}"))
            built = masked or built
            note = masks.change(self.masks, call) if masked is not None else None
            if note is not None:
                self.gen.changes.append((layer.line, "layers.mask", note))
        if first:
            self.built[id(layer)] = built
            self.declare(layer, built)
            self.steps.append(Step(built, layer.attr, (built.out_layout or want) == "cf"))
        else:
            # a shared layer: modules come from its first call
            built.modules = self.built[id(layer)].modules
        out_layout = built.out_layout or (want if built.layout != "any" else want)
        rank_unknown = bool(call.inputs) and all(t.shape is None for t in call.inputs) or (
            layer.keras_name in lazy.ELEMENTWISE_MERGES and any(t.shape is None
                                                                for t in call.inputs))
        self.emit(layer, call, built, out_layout)
        self.spans.append(block_class.Span(call, start, mid, len(self.body)))
        if rank_unknown and (lazy.keeps_shape(layer.keras_name)
                             or layer.keras_name in lazy.ELEMENTWISE_MERGES):
            for t in call.outputs:  # still unknown: the next layer that says its rank decides
                t.shape = None

    def _constant(self, call: Call) -> None:
        """A constant, or a layer or op Keras ran on constants while building the model
        (constants.py): computed once in ``__init__`` into a buffer ``forward`` reads."""
        layer, out = call.layer, call.outputs[0]
        taken = {a for attrs in self.attrs.values() for a in attrs} | {
            la.attr for la in self.ir.layers} | set(self.buffers)
        reads = [self.constant_reads.get(id(t), t.name) for t in call.inputs]
        seq = max([layer.seq, *(self.constant_seq.get(id(t), 0) for t in call.inputs)])
        if layer.constant is not None:
            buffer = layer.attr
            lines = constants.init_lines(buffer, layer.constant, "", None, ())
        else:
            shared = any(c.layer is layer and not all(t.constant for t in c.inputs)
                         for c in self.ir.calls)
            built = None if shared else self.build(layer, call, "keras")
            if built is None or built.stmts or built.lazy or len(call.outputs) != 1 \
                    or len(built.modules) > 1 or built.layout == "cf" or id(layer) in self.kept \
                    or "training" in built.forward:  # Keras ran it in inference mode
                self.kept.pop(id(layer), None)
                self._fail(layer, f"{layer.keras_name} called on a constant tensor (Keras "
                           "ran it once while building the model): not converted")
                return
            subs = {"m": layer.attr, "x": reads[0], "xs": "[" + ", ".join(reads) + "]",
                    "xin": reads[0] if len(reads) == 1 else "[" + ", ".join(reads) + "]",
                    "xargs": ", ".join(reads)} | {f"x{k}": r for k, r in enumerate(reads)}
            expr = activations.apply(built.activation, _fill(built.forward, subs), -1)
            buffer = constants.buffer_name(out.name, taken)
            module = built.modules[0][1] if built.modules else None
            lines = constants.init_lines(buffer, expr, layer.attr, module, built.init,
                                         layer.keras_name)
            if module is not None:
                self.gen.warnings.append((layer.line, f"{layer.keras_name}: "
                                          f"{constants.LAYER_ON_CONSTANT_WARNINGS[0]}"))
            shapes = built.out if isinstance(built.out, list) else [built.out]
            out.shape = shapes[0] if shapes else None
        self.declared.append((seq, lines))
        self.buffers.append(buffer)
        self.constant_reads[id(out)] = f"self.{buffer}"
        self.constant_seq[id(out)] = seq
        self.layout[id(out)] = "keras"
        self.gen.changes.append((layer.line, "model.constant", f"{out.name}: "
                                 f"{layer.keras_name} computed once in __init__, as Keras "
                                 "computed it while building the model (a buffer)"))

    def declare(self, layer: Layer, built: Built) -> None:
        if self.ir.shares is not None:  # a view: the modules of the model it reads
            self._share(layer, built)
            return
        self.attrs[id(layer)] = [layer.attr + (f"_{suffix}" if suffix else "")
                                 for suffix, _ in built.modules]
        if built.lazy and id(layer) not in self.kept and id(layer) not in self.fixed:
            self.lazy_fixed.add(id(layer))
        if id(layer) in self.kept or built.lazy:
            self.fixed.add(id(layer))
        if id(layer) in self.kept:
            reason = self.kept[id(layer)].replace("\n", " ")[:200]
            self.declared.append((layer.seq, [
                f"# TODO(k2l): {layer.keras_name} kept as Keras: {reason}",
                f"self.{layer.attr} = {' '.join(layer.source.split())}"]))
            self.entries.append(init_block.Entry(layer.attr, (layer.source,), ()))
            return
        for w in built.warnings:
            answered = built.lazy and any(t in w for t in lazy.SIZED_BY_DRY_CALL)
            (self.lazy_warnings if answered else self.gen.warnings).append(
                (layer.line, f"{layer.keras_name}: {w}"))
        if built.lazy:
            self.gen.lazy = True
            if built.modules:
                self.sized_entries[layer.attr] = init_block.Entry(
                    layer.attr, tuple(lazy.materialized(c) for _, c in built.modules),
                    built.init or built.lazy_init)
        assert layer.args is not None or layer.spec is None
        todo = []
        start = len(self.init_lines)
        if layer.args is not None and built.modules and not built.modules[0][0]:
            for arg, param in REGULARIZED.items():
                penalty = layer.args.values.get(arg)
                if penalty is not None and isinstance(penalty.value, Custom):
                    # called on Keras's kernel: (in, out) is nn.Linear's weight transposed
                    if arg == "kernel_regularizer" and not built.modules[0][1].startswith(
                            "nn.Linear("):
                        continue
                    param += ".T" if arg == "kernel_regularizer" else ""
                if penalty is not None and isinstance(penalty.value, (Penalty, Custom)):
                    layer.args.used.add(arg)
                    self.penalties.append(penalty.value.term(
                        f"self.{layer.attr}.{param}", {p.name for p in self.ir.params}))
        hooked = self._activity_hook(layer, built)
        if layer.args is not None:
            for name in layer.args.unused():
                code = layer.args.values[name].code
                reason = f"argument {name}={code} has no torch mapping; not converted"
                todo.append(f"# TODO(k2l): {layer.keras_name}({name}={code}) not converted")
                self.gen.unmapped.append((layer.line, f"{layer.keras_name}.{name}", reason))
        for line in todo:
            self.init_lines.append(line)
        for suffix, ctor in built.modules:
            attr = layer.attr if not suffix else f"{layer.attr}_{suffix}"
            if ctor.startswith("torch.") and not ctor.startswith("torch.nn."):
                self.init_lines.append(f'self.register_buffer("{attr}", {ctor})')
                self.fixed.add(id(layer))
                self.lazy_fixed.discard(id(layer))
                self.buffers.append(attr)
            else:
                self.init_lines.append(f"self.{attr} = {ctor}")
        self.init_lines += hooked
        self.declared.append((layer.seq, self.init_lines[start:]))
        del self.init_lines[start:]
        if built.init:
            self.inits.append((layer.attr, built.init))
        if built.modules and built.lazy and built.init:  # initialised after the first batch
            self.entries.append(init_block.Entry(
                layer.attr, tuple(ctor for _, ctor in built.modules), ()))
            self.lazy_entries.append((layer.line, layer.keras_name, init_block.Entry(
                layer.attr, tuple(lazy.materialized(c) for _, c in built.modules), built.init)))
        elif built.modules:
            self.entries.append(init_block.Entry(
                layer.attr, tuple(ctor for _, ctor in built.modules), built.init))
        rule = f"layers.{layer.keras_name}"
        self.gen.changes.append((layer.line, rule, f"{layer.keras_name} -> "
                                 + (built.modules[0][1].split("(")[0] if built.modules
                                    else "forward expression")))

    def _share(self, layer: Layer, built: Built) -> None:
        source = self.ir.shares
        assert source is not None
        model = self.ir.params[0].name
        lines: list[str] = []
        modules = built.modules if id(layer) not in self.kept else (("", layer.source),)
        for suffix, ctor in modules:
            attr = layer.attr if not suffix else f"{layer.attr}_{suffix}"
            path = f"{model}.{source.module_paths.get(attr, attr)}"
            if ctor.startswith("torch.") and not ctor.startswith("torch.nn."):
                lines.append(f'self.register_buffer("{attr}", {path})')
                self.buffers.append(attr)
            else:
                lines.append(f"self.{attr} = {path}")
        self.declared.append((layer.seq, lines))

    def _activity_hook(self, layer: Layer, built: Built) -> list[str]:
        """``activity_regularizer=l2(..)``: a hook adding the output's penalty to the loss."""
        value = layer.args.values.get(activity.ARG) if layer.args is not None else None
        penalty = value.value if value is not None else None
        if layer.args is not None and (own := activity.layer_penalty(layer.args)) is not None:
            penalty = own  # ActivityRegularization: the layer is the regularizer
        if (not isinstance(penalty, (Penalty, Custom)) or not built.modules
                or built.modules[0][0] or layer.args is None):
            return []
        line = activity.hook(layer.attr, penalty, {p.name for p in self.ir.params},
                             built.activation)
        if line is None:
            return []
        layer.args.used.add(activity.ARG)
        self.hooks = True
        self.gen.warnings.append((layer.line, f"{layer.keras_name}: {activity.HOOK_WARNINGS[0]}"))
        return [line]

    def emit(self, layer: Layer, call: Call, built: Built, out_layout: Layout) -> None:
        subs: dict[str, str] = {"m": f"self.{layer.attr}"}
        for suffix, _ in built.modules:
            if suffix:
                subs[f"m_{suffix}"] = f"self.{layer.attr}_{suffix}"
        names = [self.constant_reads.get(id(t), t.name) for t in call.inputs]
        subs["x"] = names[0] if names else ""
        subs["xs"] = "[" + ", ".join(names) + "]"
        subs["xin"] = names[0] if len(names) == 1 else subs["xs"]
        subs["xargs"] = ", ".join(names)  # a submodel takes its inputs as arguments
        for i, n in enumerate(names):
            subs[f"x{i}"] = n
        outs = call.outputs
        subs["y"] = outs[0].name
        for i, t in enumerate(outs):
            subs[f"y{i}"] = t.name
        if built.stmts:
            filled = [_fill(s, subs) for s in built.stmts]
            if any(_OUTPUT_SLOT.search(s) for s in filled):  # out = GRU(return_state=True)(x)
                self._fail(layer, f"{layer.keras_name}: its {len(built.out)} outputs are bound "
                           "to one name (unpack them: out, state = ...)")
                return
            # `out, _, _ = lstm(x)`: no post-processing of the discarded states
            self.body += [s for k, s in enumerate(filled) if k == 0 or not _discards_only(s)]
        else:
            if layer.kept:
                self.body.append(f"# TODO(k2l): kept as written: {layer.kept}"[:96])
            expr = _index_literal_lists(_fill(built.forward, subs))
            shape = outs[0].shape
            if shape is None:  # first inference: the tensor gets its shape below
                shape = built.out[0] if isinstance(built.out, list) and built.out else \
                    built.out if not isinstance(built.out, list) else None
            rank = len(shape) if shape is not None else 1
            dim = 1 if out_layout == "cf" and rank >= 2 else -1
            expr = activations.apply(built.activation, expr, dim)
            # a custom layer or sub-model returning several tensors: `a, b = self.split(x)`
            several = len(outs) > 1 and (layer.custom_ctor is not None
                                         or layer.submodel is not None)
            targets = ", ".join(t.name for t in outs) if several else outs[0].name
            self.body.append(f"{targets} = {expr}")
        shapes = built.out if isinstance(built.out, list) else [built.out]
        for t, shape in zip(outs, shapes, strict=False):
            if id(layer) in self.kept:
                t.shape = None  # a Keras layer the rules do not know: rank unknown
            elif t.shape is None or layer.spec is not None:
                t.shape = shape if (shape or layer.spec is not None) else None
            self.layout[id(t)] = out_layout

    # -- assembly -------------------------------------------------------------------------
    def run(self) -> Generated:
        ir = self.ir
        for t in ir.inputs:
            self.layout[id(t)] = "keras"
        for call in ir.calls:  # Keras casts Embedding inputs to int (Hashing: ids): long example
            if call.layer.spec is not None and call.layer.spec.keras in ("Embedding", "Hashing"):
                for t in call.inputs:
                    if any(t is i for i in ir.inputs):
                        t.dtype = "long"
        routed = view_outputs.consumed_outputs(ir) if ir.shares is not None else set()
        returned: list[Tensor] = []
        for call in ir.calls:
            self.call(call)
            for t in call.outputs:  # an output later layers read too: they read it itself
                if id(t) in routed and self.layout.get(id(t), "keras") == "cf" and t.shape:
                    n = len(t.shape) + 1
                    self.body += view_outputs.routed(t.name, _perm_to_keras(n), _perm_to_cf(n))
                    returned.append(t)
        for t in returned:  # returned in Keras's order, under the name routed() gave it
            t.name = view_outputs.returned_name(t.name)
            self.layout[id(t)] = "keras"
        for t in ir.outputs:
            if not self.convert(t, "keras"):
                self.failed = True
                self.gen.unmapped.append((ir.line, "Model", f"the output {t.name} is {LOST_LAYOUT}"))
        if self.failed:
            return self.gen
        if ir.shares is not None:  # the modules exist: nothing to size or initialise
            self.gen.warnings, self.gen.unmapped, self.gen.changes = [], [], []  # the model's
            self.entries, self.lazy_entries, self.penalties = [], [], []
            self.gen.code = self.assemble()
            return self.gen
        # lazy layers may move into a helper's module when the dry call sizes them there
        # (a custom layer's keras_init() after it is called by attribute: it stays)
        movable = self.lazy_fixed - {id(lyr) for lyr in self.lazy_custom} \
            if self.gen.lazy and self._dry_callable() else set()
        made = block_class.group(ir, self.body, self.spans, self.declared, self.entries,
                                 self.attrs, self.fixed - movable, self.unique, self.penalties)
        self.gen.changes += made.changes
        rolled_loops.settle(ir, self.gen.warnings)
        self._as_sequential()
        self.gen.sized = self.gen.lazy and self._dry_callable()
        if self.gen.sized:
            moved = {**ir.module_paths, **rolled_loops.entry_paths(ir)}  # into blocks
            sized = {moved.get(a, a): init_block.Entry(moved.get(a, a), e.ctors, e.templates)
                     for a, e in self.sized_entries.items() if moved.get(a, a)}
            self.entries = [sized.get(e.attr, e) for e in self.entries]
            self.lazy_entries = []  # initialised after the dry call, not on the first batch
            self.gen.sized_layers = [lyr.keras_name for lyr in self.lazy_custom]
        else:
            self.gen.warnings += self.lazy_warnings
        self.gen.blocks = made.classes
        self.gen.code = self.assemble()
        return self.gen

    def _dry_callable(self) -> bool:
        """Whether ``__init__`` can call the model once on its example input: every input
        size known (a guessed size could be too small for the layers) and no Keras layer
        kept (it would fail at construction instead of on the first batch)."""
        return bool(self.ir.inputs) and not self.kept and all(
            t.shape is not None and None not in t.shape for t in self.ir.inputs)

    def _dry_call(self) -> list[str]:
        examples = ", ".join(_example(t) for t in self.ir.inputs)
        return ["# Keras sizes every layer when the model is built: one dry call sizes the",
                "# nn.Lazy modules (before the optimizer is made and the initializers run)",
                "self.eval()", "with torch.no_grad():", f"{IND}self({examples})",
                "self.train()", *[f"self.{lyr.attr}.keras_init()" for lyr in self.lazy_custom
                                  if self.lazy_layers[lyr.keras_name]]]

    def assemble(self) -> str:
        """The class's code; its required untyped parameters typed (or taken as the sizes
        the class reads of them) by signature.py, which may rewrite the class's lines."""
        code = self._assemble(_same)
        refined = signature.refine(self.ir.params, code)
        if refined is None:
            return code
        self.ir.params = refined.params
        return self._assemble(refined.rewrite)

    def _assemble(self, rewrite: Callable[[str], str]) -> str:
        ir = self.ir
        params = ""
        defaulted = star = False
        for p in ir.params:
            if not star and (p.kwonly or (p.default is None and defaulted)):
                params += ", *"  # the builder's ``*``, or a required name after defaults
                star = True
            defaulted = defaulted or p.default is not None
            params += f", {p.name}" + (f": {p.annotation}" if p.annotation else "") + (
                (" = " if p.annotation else "=") + p.default if p.default is not None else "")
        lines = [f"class {ir.class_name}({ir.base or 'pl.LightningModule'}):"]
        origin = f"Keras {ir.kind} model"
        if ir.var:
            origin += f" ``{ir.var}``"
        if ir.shares is not None:
            params = f", {ir.params[0].name}: {ir.shares.class_name}"
            lines += [f'{IND}"""Converted by k2l-agent from a Keras model over another\'s '
                      f"tensors (line {ir.line}):",
                      f"{IND}``{ir.var}`` reads ``{ir.params[0].name}``'s layers and shares "
                      'their modules, as Keras does."""']
        else:
            lines.append(f'{IND}"""Converted by k2l-agent from the {origin} '
                         f'(line {ir.line})."""')
        lines.append("")
        for attr in self.buffers:
            lines.append(f"{IND}{attr}: torch.Tensor")
        if self.buffers:
            lines.append("")
        lines.append(f"{IND}def __init__(self{params}) -> None:")
        lines.append(f"{IND * 2}super().__init__()")
        built = [rewrite(line) for _, declared in sorted(self.declared, key=lambda d: d[0])
                 for line in declared]
        initialized = [rewrite(line) for line in self._init_block()]
        if ir.params and ir.shares is None:
            # modules passed in (a kept backbone) are saved with the weights, not as hparams;
            # arrays (an embedding matrix, the training features) are data, not hparams: a
            # checkpoint would carry a copy of them
            passed = sorted({layer.source for layer in ir.layers if id(layer) in self.kept}
                            & {p.name for p in ir.params}
                            | {layer.attr for layer in ir.layers if layer.passed_in}
                            | array_params([p.name for p in ir.params], built + initialized))
            ignore = "ignore=[" + ", ".join(f'"{n}"' for n in passed) + "]" if passed else ""
            if len(passed) < len(ir.params):  # modules only: no hyperparameter to save
                lines.append(f"{IND * 2}self.save_hyperparameters({ignore})")
        lines += [f"{IND * 2}{rewrite(note)}" for note in ir.notes if note.startswith("assert ")]
        if all(t.shape is not None for t in ir.inputs) and ir.inputs:
            size = open_sizes.example_size(ir)  # open axes: long enough for the windows
            for t in ir.inputs:
                t.example = size
            examples = [rewrite(_example(t)) for t in ir.inputs]
            value = examples[0] if len(examples) == 1 else "(" + ", ".join(examples) + ")"
            lines.append(f"{IND * 2}self.example_input_array = {value}")
        lines += [f"{IND * 2}{line}" for line in built]
        if self.gen.sized:
            lines += [IND * 2 + rewrite(s) for s in self._dry_call()]
        lines += [IND * 2 + s for s in initialized]
        output_mask = self.masks.output_mask if self.masks is not None else None
        if output_mask is not None:
            self.gen.masked_output = True
            lines += [f"{IND * 2}# the mask Keras attaches to the output: its loss skips those steps",
                      f"{IND * 2}self.output_mask: torch.Tensor | None = None"]
        lines.append("")
        args = ", ".join(f"{t.name}: torch.Tensor" for t in ir.inputs)
        if ir.output_keys is not None:  # outputs=dict: Keras returns it with sorted keys
            ret_type = "dict[str, torch.Tensor]"
            ret = "{" + ", ".join(f'"{k}": {t.name}' for k, t in zip(
                ir.output_keys, ir.outputs, strict=True)) + "}"
        elif ir.output_groups is not None:  # a layer's several outputs: a tuple of them
            ret_type, ret = view_outputs.nested_return(ir)
        elif len(ir.outputs) == 1:  # also for outputs=[out]: one tensor reads better than (out,)
            ret_type, ret = "torch.Tensor", ir.outputs[0].name
        else:
            ret_type = "tuple[" + ", ".join("torch.Tensor" for _ in ir.outputs) + "]"
            ret = ", ".join(t.name for t in ir.outputs)
        lines.append(f"{IND}def forward(self, {args}) -> {ret_type}:")
        lines += [IND * 2 + rewrite(s) for s in self.body]
        if output_mask is not None:
            lines.append(f"{IND * 2}self.output_mask = {output_mask}")
        lines.append(f"{IND * 2}return {rewrite(self.returned or ret)}")
        if self.penalties:
            self.gen.regularized = True
            penalties = [rewrite(p) for p in self.penalties]
            lines += ["", f"{IND}def regularization_loss(self) -> torch.Tensor:",
                      f'{IND * 2}"""Keras weight regularizers: added to the loss, as Keras does."""',
                      f"{IND * 2}return " + penalties[0] if len(penalties) == 1
                      else f"{IND * 2}return (\n{IND * 3}" + f"\n{IND * 3}+ ".join(penalties)
                      + f"\n{IND * 2})"]
        return keep_in_forward("\n".join(lines) + "\n", [p.name for p in ir.params])

    def _as_sequential(self) -> None:
        """A Sequential of plain modules: one ``nn.Sequential`` and one init loop."""
        ir = self.ir
        declared = [line for _, lines in sorted(self.declared, key=lambda d: d[0])
                    for line in lines]
        if (ir.kind != "Sequential" or ir.named or len(ir.inputs) != 1 or len(ir.outputs) != 1
                or self.buffers or self.penalties or self.hooks or self.gen.lazy
                or (self.masks is not None and self.masks.output_mask is not None)
                or len(self.body) != len(self.steps)
                or not all(line.startswith("self.") for line in declared)):
            return
        made = stack(self.steps, dict(self.inits))
        if made is None:
            return
        ir.module_paths = {attr: f"layers[{k}]" for attr, k in positions(self.steps).items()}
        init, loop, final = made
        self.declared = [(0, init)]
        self.inits = []
        self.init_loop = loop
        out = f"self.layers({ir.inputs[0].name})"
        self.body = []
        self.returned = final.replace("{x}", out) if final else out

    def _init_block(self) -> list[str]:
        if self.init_loop:
            return [init_block.HEADER, *self.init_loop]
        lines = init_block.block(self.entries)
        later, left = init_block.after_first_batch([e for _, _, e in self.lazy_entries])
        for line, name, entry in self.lazy_entries:
            if entry.attr in left:
                self.gen.warnings.append((line, f"{name}: {lazy.not_reproduced()}"))
        return lines + later


_PLACEHOLDER = re.compile(r"\{([a-z_0-9]+)\}")
_OUTPUT_SLOT = re.compile(r"\{y\d+\}")  # an output the call's targets did not name
_LIST_INDEX = re.compile(r"\[((?:[A-Za-z_]\w*, )+[A-Za-z_]\w*)\]\[(-?\d+)\]")


def _same(line: str) -> str:
    return line


def _index_literal_lists(expr: str) -> str:
    """``[a, b][1]`` (a Lambda over a list of tensors) reads better as ``b``."""
    def pick(m: re.Match[str]) -> str:
        items = m.group(1).split(", ")
        k = int(m.group(2))
        return items[k] if -len(items) <= k < len(items) else m.group(0)

    return _LIST_INDEX.sub(pick, expr)


def _shape_text(shapes: list[Shape]) -> str:
    return ", ".join("(" + ", ".join("?" if d is None else str(d) for d in s) + ")"
                     for s in shapes)


def _discards_only(stmt: str) -> bool:
    """``_, _ = _[-1], _[-1]``: a statement that only rebinds names the source discards."""
    target, eq, _value = stmt.partition(" = ")
    names = target.replace("(", " ").replace(")", " ").replace(",", " ").split()
    return bool(eq) and bool(names) and all(n == "_" for n in names)


def _fill(template: str, subs: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: subs.get(m.group(1), m.group(0)), template)


def generate(ir: ModelIR, lazy_layers: dict[str, bool] | None = None,
             unique: Callable[[str], str] | None = None,
             mask_layers: dict[str, CustomMask] | None = None) -> Generated:
    """The class for ``ir`` (after the classes of its repeated helpers); ``lazy_layers``:
    custom layer classes with nn.Lazy sub-layers (-> whether they have ``keras_init()``),
    sized by the model's dry call; ``unique``: a class name not taken in the file;
    ``mask_layers``: how custom layer classes make or read Keras's masks."""
    return _Emitter(ir, lazy_layers, unique, mask_layers).run()
