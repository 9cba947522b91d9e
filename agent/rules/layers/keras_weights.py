"""Keras 2's ``weights=[kernel, bias]`` constructor argument on Dense and convolutions.

Keras sets the arrays after building the layer, in place of what its initializers drew;
the torch module gets the same arrays in its own layout instead of the initializer
statements: a Dense kernel (in, out) is transposed, a convolution kernel (spatial..., in, out) becomes (out, in, spatial...), a transposed convolution's
(spatial..., out, in) becomes (in, out, spatial...), as ``agent/weights/engine.py`` ports
saved weights. Embedding's ``weights=[matrix]`` is its own spec's (``norm.py``).
"""

from __future__ import annotations

import dataclasses
import re

import libcst as cst

from agent.rules.spec import Args, Built, Unsupported
from agent.rules.values import code_of

# torch module -> the permutation of the Keras kernel's axes into the torch weight's
_LAYOUTS: dict[str, str] = {
    "Linear": ".T",
    "Conv1d": ".permute(2, 1, 0)",
    "Conv2d": ".permute(3, 2, 0, 1)",
    "Conv3d": ".permute(4, 3, 0, 1, 2)",
    "ConvTranspose1d": ".permute(2, 1, 0)",
    "ConvTranspose2d": ".permute(3, 2, 0, 1)",
    "ConvTranspose3d": ".permute(4, 3, 0, 1, 2)",
}
_MODULE = re.compile(r"nn\.(\w+)\(")


def loaded(args: Args, built: Built) -> Built:
    """``built`` with the ``weights=`` arrays copied into its module, if the call has them."""
    if not args.has("weights"):
        return built
    main = dict(built.modules).get("")
    found = _MODULE.match(main or "")
    layout = _LAYOUTS.get(found.group(1)) if found else None
    if layout is None:
        return built  # another layer's own argument (Embedding, a keras.applications model)
    args.used.add("weights")
    if built.lazy:
        raise Unsupported(f"{args.layer}(weights={args.code('weights')}): arrays for a "
                          "layer whose input size is not known here")
    arrays = _arrays(args, 2 if args.get("use_bias") is not False else 1)
    # the arrays replace what the initializers drew: those statements go
    init = [*(t for t in built.init if not t.startswith("nn.init.")),
            f"{{m}}.weight.data.copy_(torch.as_tensor({arrays[0]}, dtype=torch.float32)"
            f"{layout})"]
    if len(arrays) == 2:
        init.append(f"{{m}}.bias.data.copy_(torch.as_tensor({arrays[1]}, "
                    "dtype=torch.float32))")
    return dataclasses.replace(built, init=tuple(init))


def _arrays(args: Args, count: int) -> list[str]:
    """The code of each array: the list's items, or ``w[k]`` of a name holding the list."""
    value = args.values["weights"]
    node = value.node
    if isinstance(node, (cst.List, cst.Tuple)):
        items = [code_of(el.value) for el in node.elements
                 if not isinstance(el, cst.StarredElement)]
        if len(items) != count or len(items) != len(node.elements):
            raise Unsupported(f"{args.layer}(weights={value.code}): {count} array(s) expected "
                              "(kernel, bias)")
        return items
    if isinstance(node, cst.Name):
        return [f"{node.value}[{k}]" for k in range(count)]
    raise Unsupported(f"{args.layer}(weights={value.code}) must be a list or a name")
