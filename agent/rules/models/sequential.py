"""A Keras ``Sequential`` whose layers are plain modules → one ``nn.Sequential``.

That is how a PyTorch user writes a stack: ``self.layers = nn.Sequential(nn.Linear(...),
nn.ReLU(), ...)``, initialised in one loop. Anything that needs more than "module after
module" (a layout permute, a buffer, a regularizer, a layer with extra statements, a lazy
module, a softmax over a channels-first axis) keeps the one-attribute-per-layer form. A final
softmax/sigmoid stays outside the stack, in ``forward``, where the loss can read the logits.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.rules import activations
from agent.rules.activations import RuntimeActivation
from agent.rules.models import init_block
from agent.rules.spec import Built

# Keras activation → the torch module that computes it over the last axis
ACTIVATION_MODULES: dict[str, str] = {
    "relu": "nn.ReLU()", "relu6": "nn.ReLU6()", "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()",
    "softmax": "nn.Softmax(dim=-1)", "log_softmax": "nn.LogSoftmax(dim=-1)", "elu": "nn.ELU()",
    "selu": "nn.SELU()", "gelu": "nn.GELU()", "silu": "nn.SiLU()", "swish": "nn.SiLU()",
    "softplus": "nn.Softplus()", "softsign": "nn.Softsign()", "hard_sigmoid": "nn.Hardsigmoid()",
    "hard_silu": "nn.Hardswish()", "hard_swish": "nn.Hardswish()", "mish": "nn.Mish()",
    "leaky_relu": "nn.LeakyReLU(negative_slope=0.2)", "tanh_shrink": "nn.Tanhshrink()",
}
_FORWARD_MODULES = {"torch.flatten({x}, 1)": "nn.Flatten()"}  # module-free layers
_OUTSIDE = ("softmax", "sigmoid")  # a final one stays in forward: the loss may undo it
IND = "    "


@dataclass
class Step:
    built: Built
    attr: str
    channels_first: bool  # the layer's output is channels-first (softmax dim would be 1)


def plain_modules(step: Step) -> list[str] | None:
    """The plain torch modules one step is, in order (None: it needs more than that)."""
    b = step.built
    if b.stmts or b.lazy or len(b.modules) > 1:
        return None
    act = b.activation if b.activation not in (None, "linear") else None
    runtime = act.module if isinstance(act, RuntimeActivation) else None
    if act is not None and runtime is None and (act not in ACTIVATION_MODULES
                                                or step.channels_first):
        return None
    if b.modules:
        suffix, ctor = b.modules[0]
        if suffix or b.forward != "{m}({x})" or not (ctor.startswith("nn.") or b.passed_class):
            return None
        out = [ctor]
    elif b.forward in _FORWARD_MODULES:
        out = [_FORWARD_MODULES[b.forward]]
    elif b.forward in ("", "{x}"):
        out = []
    else:
        return None
    return out + ([runtime or ACTIVATION_MODULES[act]] if act else [])


def positions(steps: list[Step]) -> dict[str, int]:
    """Each layer's module index in the ``nn.Sequential`` :func:`stack` builds (a view over
    the model reuses its modules by index)."""
    out: dict[str, int] = {}
    k = 0
    for step in steps:
        mods = plain_modules(step) or []
        if step.built.modules:
            out[step.attr] = k
        k += len(mods)
    return out


def stack(steps: list[Step], inits: dict[str, tuple[str, ...]], attr: str = "layers"
          ) -> tuple[list[str], list[str], str | None] | None:
    """(``__init__`` lines, init-loop lines, the final activation template) or None."""
    if not steps:
        return None
    items: list[str] = []
    final: str | None = None
    entries: list[init_block.Entry] = []
    for k, step in enumerate(steps):
        mods = plain_modules(step)
        if mods is None:
            return None
        act = step.built.activation
        if k == len(steps) - 1 and act in _OUTSIDE:
            mods = mods[:-1]
            final = activations.apply(act, "{x}", -1)
        if step.built.modules:
            entries.append(init_block.Entry(step.attr, (mods[0],), inits.get(step.attr, ())))
        items += mods
    if not items:
        return None
    init = [f"self.{attr} = nn.Sequential(", *[f"{IND}{m}," for m in items], ")"]
    loop, covered = init_block.loop(entries, f"self.{attr}", "layer")
    if any(e.templates and e.attr not in covered for e in entries):
        return None  # one type initialised two ways: keep one attribute per layer
    return init, loop, final
