"""Keras's implicit masks made explicit: ``mask = x != 0`` in ``forward``, passed to the
layers that read it.

``Embedding(mask_zero=True)`` and ``Masking`` attach a mask to their output; Keras 3 carries
it through the layers that support masking and the RNNs and ``GlobalAveragePooling1D`` skip
the masked steps. torch has no implicit masks, so the plan follows the mask through the
model's calls: a propagating layer (Dense, Dropout, ...) passes it on, a layer without
mask support drops it (Keras 3 does the same, with a warning), a recurrent layer runs under
it (``masked_rnn``, copied into the script) and a pooling averages only unmasked steps. Any
other reader (attention, merges, BatchNormalization, a custom layer, the model's output,
where Keras's loss would skip masked steps) leaves the whole model in the unmasked form with
the source's warning: that file is not called converted. A mask given explicitly from a
model input (``GRU(8)(x, mask=mask_input)``) is read, and carried on, the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.rules.classes.layer_masks import LOST_MASK_WARNINGS, CustomMask
from agent.rules.models.graph import Call, ModelIR
from agent.rules.spec import Args, Built, NotStatic

# Keras 3 layers whose call ignores the mask and whose output carries the input's mask
PROPAGATE = frozenset({
    "Dense", "Dropout", "Activation", "SpatialDropout1D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "LayerNormalization", "LeakyReLU", "ReLU", "ELU", "PReLU", "Identity",
    "Rescaling", "ActivityRegularization",
})
# Keras 3 layers without mask support: the mask ends there (Keras 3 warns and drops it)
DROP = frozenset({
    "Flatten", "Reshape", "Permute", "RepeatVector", "Conv1D", "Conv1DTranspose",
    "SeparableConv1D", "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "Cropping1D",
    "ZeroPadding1D", "UpSampling1D", "Embedding",
})
RECURRENT = frozenset({"LSTM", "GRU", "SimpleRNN"})
_MODULES = ("nn.LSTM(", "nn.GRU(", "nn.RNN(")  # what masked_rnn runs (not lazy or custom cells)
NOT_MASKED_WARNINGS = ("runs the masked steps that Keras skips (masked_rnn takes "
                       "nn.LSTM/GRU/RNN modules only)",)
SOURCE_TEXTS = (  # the sources' own warnings, dropped once their masks are honoured
"Embedding(mask_zero=True): torch has no implicit masks",
                   "Masking: the zeroed steps are computed as in Keras")


@dataclass
class Plan:
    """Which calls make, read or pass on which mask variable."""

    sources: dict[int, tuple[str, str]] = field(default_factory=dict)  # call -> (mask, stmt)
    readers: dict[int, str] = field(default_factory=dict)  # call -> mask it runs under
    used: set[str] = field(default_factory=set)  # masks some reader needs
    zero_output: set[int] = field(default_factory=set)  # Bidirectional returning sequences
    explicit: set[int] = field(default_factory=set)  # calls given ``mask=<model input>``
    # custom forward(..., mask=) calls -> the mask keywords Keras passes them
    custom_readers: dict[int, dict[str, str]] = field(default_factory=dict)
    # the mask Keras attaches to the one output (its loss skips those steps): forward stores
    # it as ``self.output_mask``; a sub-model's is read as ``self.<attr>.output_mask``
    output_mask: str | None = None
    from_submodels: bool = False
    several: dict[int, int] = field(default_factory=dict)  # calls on several tensors -> Keras


def _source(call: Call, name: str) -> str | None:
    """The statement computing the mask ``call``'s layer attaches, if it attaches one."""
    layer = call.layer
    if layer.spec is None or layer.args is None or len(call.inputs) != 1:
        return None
    x = call.inputs[0].name
    try:
        if layer.spec.keras == "Embedding" and layer.args.get("mask_zero") is True:
            return f"{name} = {x} != 0  # Embedding(mask_zero=True): padded ids are 0"
        if layer.spec.keras == "Masking":
            value = layer.args.code("mask_value")
            return f"{name} = ({x} != {value}).any(dim=-1)  # Masking: steps not all {value}"
    except NotStatic:
        return None
    return None


def explicit_mask(call: Call, inputs: set[str]) -> str | None:
    """The model input passed as ``mask=`` (``GRU(8)(x, mask=mask_input)``), the only call
    keyword, when it is a model input: forward's parameter of that name is the mask."""
    value = call.call_kwargs.get("mask")
    if value is None or len(call.call_kwargs) != 1 or value.code not in inputs:
        return None
    return value.code


def _reads(call: Call, explicit: bool = False) -> str | None:
    """How a layer given a mask uses it: "pass", "drop", "rnn", "pool"; None = unknown.
    ``explicit``: the mask is the call's ``mask=`` argument (its only keyword)."""
    layer = call.layer
    spec, args = layer.spec, layer.args
    if spec is None or args is None or len(call.inputs) != 1 or (
            call.call_kwargs and not explicit):
        return None
    kind = spec.keras
    try:
        if kind in PROPAGATE:
            return "pass"
        if kind == "TimeDistributed":
            inner = layer.inner_spec
            return "pass" if inner is not None and inner.keras in PROPAGATE else None
        if kind in DROP:
            return "drop"
        if kind in RECURRENT:
            return "rnn" if _fused(kind, args) else None
        if kind == "Bidirectional":
            wrapped = layer.inner_spec
            return "rnn" if layer.inner_args is not None and wrapped is not None \
                and wrapped.keras in RECURRENT and _fused(wrapped.keras, layer.inner_args) \
                else None
        if kind == "GlobalAveragePooling1D":
            plain = args.get("keepdims") is False and args.get("data_format") in (
                None, "channels_last")
            return "pool" if plain else None
    except NotStatic:
        return None
    return None


def _fused(kind: str, args: Args) -> bool:
    """Whether the layer becomes torch's own module (not a Keras cell copied into the script,
    which masked_rnn does not run)."""
    if args.get("stateful"):
        return False
    if kind == "GRU" and not args.get("reset_after"):
        return False
    if kind == "SimpleRNN":
        return args.get("activation") in ("tanh", "relu")
    return (args.get("activation"), args.get("recurrent_activation")) == ("tanh", "sigmoid")


def _sequences(call: Call) -> bool:
    layer = call.layer
    args = layer.inner_args if layer.spec is not None and layer.spec.keras == "Bidirectional" \
        else layer.args
    return args is not None and bool(args.get("return_sequences"))


def plan(ir: ModelIR, custom: dict[str, CustomMask] | None = None) -> Plan | None:
    """The masks of ``ir``, or None when it has none or one reaches a reader this module
    does not reproduce (the model then keeps the unmasked form and its warnings).
    ``custom``: the custom layer classes whose mask behaviour is known (layer_masks.py)."""
    custom = custom or {}
    taken = {t.name for c in ir.calls for t in (*c.inputs, *c.outputs)} | {
        t.name for t in ir.inputs}
    out = Plan()
    mask_of: dict[int, str] = {}  # id(tensor) -> its mask variable
    inputs = {t.name for t in ir.inputs}
    for call in ir.calls:
        given = explicit_mask(call, inputs)
        if given is not None:  # Keras runs the layer under the given mask, not the implicit
            how = _reads(call, explicit=True)
            if how not in ("rnn", "pool"):
                return None
            out.readers[id(call)] = given
            out.explicit.add(id(call))
            if how == "rnn" and _sequences(call):
                mask_of.update((id(t), given) for t in call.outputs[:1])
            continue
        name = "mask" if not out.sources else f"mask_{len(out.sources)}"
        while name in taken:
            name += "_"
        stmt = _source(call, name)
        if stmt is not None:
            out.sources[id(call)] = (name, stmt)
            mask_of.update((id(t), name) for t in call.outputs)
            continue
        masks = [mask_of.get(id(t)) for t in call.inputs]
        mask = masks[0] if masks else None
        sub = call.layer.submodel
        if sub is not None and not any(masks) and call.layer.attr and len(call.outputs) == 1:
            inner = plan(sub, custom)
            if inner is not None and inner.output_mask is not None:  # Keras passes it on
                mask_of[id(call.outputs[0])] = f"self.{call.layer.attr}.output_mask"
                out.from_submodels = True
            continue
        facts = _custom(call, custom)
        if facts is not None:
            if not _custom_call(out, call, facts, mask, name, mask_of):
                return None
            continue
        if not any(masks):
            continue
        how = _reads(call) if mask is not None else None
        if how is None or mask is None:
            return None
        if how in ("rnn", "pool"):
            out.readers[id(call)] = mask
            out.used.add(mask)
        if how == "pass" or (how == "rnn" and _sequences(call)):
            for t in call.outputs[:1]:
                mask_of[id(t)] = mask
        if how == "rnn" and _sequences(call) and call.layer.spec is not None \
                and call.layer.spec.keras == "Bidirectional":
            out.zero_output.add(id(call))
    if not (out.sources or out.explicit or out.from_submodels):
        return None  # no mask
    reaching = [mask_of[id(t)] for t in ir.outputs if id(t) in mask_of]
    if reaching:  # Keras's loss skips the masked steps: the step reads the output's mask
        if len(ir.outputs) != 1 or ir.output_keys is not None or ir.shares is not None:
            return None
        out.output_mask = reaching[0]
        out.used.add(reaching[0])
    return out


def mask_readers(ir: ModelIR, p: Plan | None, custom: dict[str, CustomMask] | None) -> list[str]:
    """The classes of the mask-reading custom layers of ``ir``, one entry per instance, when
    each of their calls gets the mask Keras passes: the plan holds, or no call makes a mask
    (Keras passes None, as forward's default does)."""
    custom = custom or {}
    if p is None and any(_source(c, "m") is not None or "mask" in c.call_kwargs or (
            (facts := _custom(c, custom)) is not None and facts.computes) for c in ir.calls):
        return []
    seen: dict[int, str] = {}
    for c in ir.calls:
        facts = _custom(c, custom)
        if facts is not None and facts.reads:
            seen[id(c.layer)] = c.layer.keras_name
    return list(seen.values())


def unreproduced(ir: ModelIR, custom: dict[str, CustomMask] | None) -> list[tuple[int, str]]:
    """Without a plan: the custom layers whose ``compute_mask`` mask is then lost (the
    built-in sources keep their own warnings)."""
    return [(c.layer.line, f"{c.layer.keras_name}: {LOST_MASK_WARNINGS[0]}") for c in ir.calls
            if (facts := _custom(c, custom or {})) is not None and facts.computes]


def _custom(call: Call, custom: dict[str, CustomMask]) -> CustomMask | None:
    layer = call.layer
    if layer.custom_ctor is None or layer.submodel is not None:
        return None
    return custom.get(layer.keras_name)


def _custom_call(out: Plan, call: Call, facts: CustomMask, mask: str | None, name: str,
                 mask_of: dict[int, str]) -> bool:
    """A custom layer's call under the plan: its ``forward`` given the masks Keras passes
    (layer_masks.py), its output's mask from its ``compute_mask`` over the first input (or
    the first input's, passed on), as Keras 2 and 3 both give it. False: Keras would pass a
    mask this plan cannot (a list of tensors, a Keras the script does not name)."""
    attached = [mask_of.get(id(t)) for t in call.inputs]
    if call.listed or set(call.call_kwargs) - {"training"} or not call.inputs:
        if any(attached) or facts.computes:
            return False  # a list of masks, the given one, or keyword tensors: not reproduced
        return True
    keywords = facts.call_masks(attached)
    if keywords is None:
        return False  # Keras 2 and 3 differ there and the script does not say which it ran
    if keywords:
        out.readers[id(call)] = next(iter(keywords.values()))
        out.used.update(keywords.values())
        out.custom_readers[id(call)] = keywords
        if len(call.inputs) > 1 and facts.keras is not None:
            out.several[id(call)] = facts.keras
    if facts.computes:
        x = call.inputs[0].name
        given = f", {mask}" if mask is not None else ""
        if mask is not None:
            out.used.add(mask)
        out.sources[id(call)] = (name, f"{name} = self.{call.layer.attr}.compute_mask({x}{given})")
        mask_of.update((id(t), name) for t in call.outputs[:1])
    elif facts.passes and mask is not None:
        mask_of.update((id(t), mask) for t in call.outputs[:1])
    return True


def masked_call(template: str, mask: str, zero_output: bool) -> str | None:
    """``{m}(args)`` in a recurrent template → ``masked_rnn({m}, args, mask=mask)``."""
    start = template.find("{m}(")
    if start < 0:
        return None
    depth, i = 0, start + 3
    for i in range(start + 3, len(template)):
        depth += {"(": 1, ")": -1}.get(template[i], 0)
        if depth == 0:
            break
    inner = template[start + 4:i]
    extra = ", zero_output=True" if zero_output else ""
    return (f"{template[:start]}masked_rnn({{m}}, {inner}, mask={mask}{extra})"
            f"{template[i + 1:]}")


def apply(p: Plan, call: Call, built: Built, body: list[str]) -> Built | None:
    """``built`` for ``call`` under the plan: the source's mask statement appended to
    ``body`` (before the call) and its warning dropped, a reader's form masked. None: this
    form cannot run under its mask (the caller falls back to the unmasked model)."""
    mask = p.readers.get(id(call))
    if id(call) in p.custom_readers:
        if built.forward != "{m}({xargs})":
            return None
        given = ", ".join(f"{k}={v}" for k, v in p.custom_readers[id(call)].items())
        built.forward = f"{{m}}({{xargs}}, {given})"
    if id(call) in p.sources:
        name, stmt = p.sources[id(call)]
        built.warnings = tuple(w for w in built.warnings if not w.startswith(SOURCE_TEXTS))
        if name not in p.used:
            return built
        body.append(stmt)
        if call.layer.spec is not None and call.layer.spec.keras == "Masking":
            built.forward = f"{{x}} * {name}.unsqueeze(-1)"
        return built
    if mask is None or id(call) in p.custom_readers:
        return built
    if call.layer.spec is not None and call.layer.spec.keras == "GlobalAveragePooling1D":
        # Keras: sum of the unmasked steps over their count
        built.forward = f"({{x}} * {mask}.unsqueeze(-1)).sum(dim=1) / {mask}.sum(dim=1, " \
                        "keepdim=True)"
        built.stmts = ()
        return built
    if not built.modules or not built.modules[0][1].startswith(_MODULES):
        return None
    zero = id(call) in p.zero_output
    args = call.layer.args
    if args is not None and call.layer.spec is not None and \
            call.layer.spec.keras in RECURRENT and args.get("go_backwards"):
        mask += ".flip(1)"  # Keras reverses the mask with the steps
    if built.stmts:
        stmts = [masked_call(s, mask, zero) if "{m}(" in s else s for s in built.stmts]
        if any(s is None for s in stmts):
            return None
        built.stmts = tuple(s for s in stmts if s is not None)
    else:
        forward = masked_call(built.forward, mask, zero)
        if forward is None:
            return None
        built.forward = forward
    return built


def change(p: Plan, call: Call) -> str | None:
    """The report's line for a call the plan changed."""
    if id(call) in p.sources and p.sources[id(call)][0] in p.used:
        return f"the mask Keras attaches -> {p.sources[id(call)][0]}, passed explicitly"
    if id(call) in p.custom_readers:
        given = ", ".join(f"{k}={v}" for k, v in p.custom_readers[id(call)].items())
        rule = {2: " (Keras 2, the script's: the first tensor's mask; Keras 3 passes none)",
                3: " (Keras 3, the script's: <arg>_mask only; Keras 2 passes the first "
                   "tensor's as mask)"}.get(p.several.get(id(call), 0), "")
        return f"forward gets {given}, the mask Keras passes to its call(){rule}"
    if id(call) in p.readers:
        return f"runs under {p.readers[id(call)]}: masked steps skipped as in Keras"
    return None
