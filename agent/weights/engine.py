"""Copy trained weights from a Keras model into its converted torch module.

Layers are paired by structure: each Keras layer, in graph order, with the first torch child
left whose kind and shapes take its weights (a child of the same name is tried first: names
only break ties). Keras's automatic names (``dense_6`` when other models were built first,
``variable_1`` for an unnamed ``add_weight``) therefore never matter. Any mismatch fails
loudly, naming the layer: a silent partial port is worse than none.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from agent.rules.naming import keras_snake
from agent.rules.training.runtime.layer_weights import LAYOUTS, layout_slots
from agent.weights.base import Array, PortError, _set, _weights
from agent.weights.layer_rules import EXTRA_PORTS, time_distributed


def _write_layout(kind: str, w: dict[str, Array], m: nn.Module, where: str,
                  sfx: str = "") -> None:
    """Keras weights ``w`` (by name) into ``m`` through the runtime's layout table, the one
    converted scripts' ``get_weights``/``set_weights`` read and write."""
    slots = {name: write for name, _, write in layout_slots(kind, m, sfx)}
    for name, _, _ in LAYOUTS[kind]:
        if name not in w:
            continue
        if name not in slots:
            raise PortError(f"{where}: torch module has no parameter for a Keras weight")
        try:
            slots[name](w[name])
        except ValueError as exc:
            raise PortError(f"{where}: {exc}") from exc


def _layout(kind: str, aliases: tuple[tuple[str, str], ...] = ()
            ) -> Callable[[Any, nn.Module, str], None]:
    """The port rule of a table kind; ``aliases``: other Keras names of a weight."""
    def port(layer: Any, m: nn.Module, where: str) -> None:
        w = _weights(layer)
        for other, name in aliases:
            if other in w and name not in w:
                w[name] = w.pop(other)
        _write_layout(kind, w, m, where)

    return port


def _embedding(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    _write_layout("embedding", {"embeddings": w.get("embeddings", next(iter(w.values())))}, m,
                  where)


def _rnn_into(kind: str, layer: Any, m: nn.Module, sfx: str, where: str,
              layer_tag: str = "_l0") -> None:
    """Keras's kernels of an RNN layer (or, ``layer_tag=""``, a cell) into torch's
    ``weight_ih_l0``/... (``weight_ih``/... of a cell)."""
    w = _weights(layer)
    for name in ("kernel", "recurrent_kernel"):
        if name not in w:
            raise PortError(f"{where}: Keras {kind} layer has no {name}")
    _write_layout(kind, w, m, where, layer_tag + sfx)


def _rnn(kind: str) -> Callable[[Any, nn.Module, str], None]:
    def port(layer: Any, m: nn.Module, where: str) -> None:
        _rnn_into(kind, layer, m, "", where)

    return port


_CELL_KINDS = {"SimpleRNNCell": "simplernn", "GRUCell": "gru", "LSTMCell": "lstm"}


def _cell(kind: str) -> Callable[[Any, nn.Module, str], None]:
    """A Keras cell into the copied KerasGRUCell/... (torch's cell parameter names)."""
    def port(layer: Any, m: nn.Module, where: str) -> None:
        _rnn_into(kind, layer, m, "", where, layer_tag="")

    return port


def _cells_into(cell: Any, m: nn.Module, where: str) -> None:
    """A Keras RNN's cell into CellRNN's: built-in cells by rule, StackedRNNCells cell by
    cell, a custom cell as any custom layer."""
    kind = _CELL_KINDS.get(type(cell).__name__)
    if kind is not None:
        _rnn_into(kind, cell, m, "", where, layer_tag="")
    elif type(cell).__name__ == "StackedRNNCells":
        inner = list(getattr(m, "cells", []))
        if len(inner) != len(cell.cells):
            raise PortError(f"{where}: {len(cell.cells)} stacked Keras cells, {len(inner)} torch")
        for k, (kc, tc) in enumerate(zip(cell.cells, inner, strict=True)):
            _cells_into(kc, tc, f"{where}[{k}]")
    else:
        _port_one(cell, m, where, "")


def _rnn_layer(layer: Any, m: nn.Module, where: str) -> None:
    """``RNN(cell)``: the recurrent layer it became (nn.LSTM...), else CellRNN's cell."""
    kind = _CELL_KINDS.get(type(layer.cell).__name__)
    if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN)) and kind is not None:
        _rnn_into(kind, layer.cell, m, "", where)
    elif isinstance(getattr(m, "cell", None), nn.Module) and (
            kind is not None or type(layer.cell).__name__ == "StackedRNNCells"):
        _cells_into(layer.cell, m.cell, where)  # type: ignore[arg-type]
    elif isinstance(getattr(m, "cell", None), nn.Module):  # a custom cell: as any layer
        _port_one(layer.cell, m.cell, where, "")  # type: ignore[arg-type]
    else:
        raise PortError(f"{where}: RNN({type(layer.cell).__name__}) into a module without "
                        "its cell")


def _bidirectional(layer: Any, m: nn.Module, where: str) -> None:
    kind = type(layer.forward_layer).__name__.lower()
    kind = {"simplernn": "simplernn"}.get(kind, kind)
    _rnn_into(kind, layer.forward_layer, m, "", where)
    _rnn_into(kind, layer.backward_layer, m, "_reverse", where)


def _prelu(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    alpha = w["alpha"]
    weight = m.get_parameter("weight")
    _set(weight, alpha.reshape(tuple(weight.shape)) if alpha.size == weight.numel() else alpha,
         where)


PORTS: dict[str, Callable[[Any, nn.Module, str], None]] = {
    **{kind: _layout(kind) for kind in ("dense", "conv", "conv_transpose", "batch_norm",
                                        "layer_norm")},
    "depthwise": _layout("depthwise", (("kernel", "depthwise_kernel"),)),
    "embedding": _embedding,
    "lstm": _rnn("lstm"),
    "gru": _rnn("gru"),
    "simplernn": _rnn("simplernn"),
    "bidirectional": _bidirectional,
    "rnn": _rnn_layer,
    **{f"{kind}_cell": _cell(kind) for kind in ("simplernn", "gru", "lstm")},
    "prelu": _prelu,
}


PORTS.update(EXTRA_PORTS)
_LOOP_ATTR = re.compile(r"loop_layers(_\d+)?")  # rules/models/runtime_loops.py: a loop
SEQUENTIAL_ATTR = "layers"  # agent.rules.models.sequential names the stack so

def _keras_layers(model: Any) -> list[Any]:
    layers = model.layers if hasattr(model, "layers") else _sublayers(model)
    return [layer for layer in layers if layer.weights]


def _sublayers(layer: Any) -> list[Any]:
    """Layers a custom Keras layer tracks as attributes (a Sequential, a list of blocks)."""
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return []
    return list(flatten(include_self=False, recursive=False))


def _is_composite(layer: Any) -> bool:
    """A custom layer whose weights all live in its sub-layers: ported layer by layer."""
    subs = _sublayers(layer)
    inner = {id(w) for sub in subs for w in sub.weights}
    return bool(subs) and all(id(w) in inner for w in layer.weights)


def _is_keras_model(layer: Any) -> bool:
    return hasattr(layer, "layers") and hasattr(layer, "inputs") or type(layer).__name__ in (
        "Sequential", "Functional", "Model")


def _torch_children(module: nn.Module, keras_types: frozenset[str] = frozenset()
                    ) -> list[tuple[str, nn.Module]]:
    """Modules that hold weights, in declaration order. Keras lists the items of a list or
    dict of layers flat, the ``nn.Sequential`` of a converted Keras Sequential counts as the
    layers inside it, and so does a block (a repeated helper's module, see
    :func:`_is_block`)."""
    out: list[tuple[str, nn.Module]] = []
    for n, c in module.named_children():
        if type(c) is nn.Sequential and (n == SEQUENTIAL_ATTR or _LOOP_ATTR.fullmatch(n) or all(
                _is_block(m, keras_types) for m in c.children())) or _is_block(c, keras_types):
            out += [(f"{n}.{k}", m) for k, m in _torch_children(c, keras_types)]
        elif isinstance(c, (nn.ModuleList, nn.ModuleDict)):
            out += [(f"{n}_{k}", item) for k, item in c.named_children() if _has_state(item)]
        elif _has_state(c):
            out.append((n, c))
    return out


BLOCK_DOC = "The Keras helper "  # how agent.rules.models.block_class starts its docstring
_UNITS = frozenset({"FrozenModule"})  # runtime wrappers that hold one Keras model's weights


def _is_block(module: nn.Module, keras_types: frozenset[str]) -> bool:
    """A module the converter grouped layers into (``class ConvBlock(nn.Module)`` for a
    helper called several times): Keras has no layer of its type, and its weights all live
    in its children. A converted custom layer keeps its Keras class's name, and a nested
    model is a LightningModule: both port as one unit."""
    cls = type(module)
    return ((cls.__doc__ or "").startswith(BLOCK_DOC)  # a module a subclass's Sequential
            # became keeps its own weights' order: only helpers' blocks are flat
            and not cls.__module__.startswith(("torch.", "torchvision."))
            and cls.__name__ not in keras_types | _UNITS
            and not any(k.__name__ == "LightningModule" for k in cls.__mro__)
            and not any(True for _ in module.parameters(recurse=False))
            and not any(True for _ in module.buffers(recurse=False))
            and any(True for _ in module.children()))


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def _port_rule(layer: Any) -> Callable[[Any, nn.Module, str], None] | None:
    from agent.rules.layers import lookup

    spec = lookup(f"keras.layers.{type(layer).__name__}")
    if spec is None or spec.port is None:
        return None
    return PORTS[spec.port]


PORTS["time_distributed"] = time_distributed(_port_rule)


def _port_one(layer: Any, child: nn.Module, where: str, prefix: str) -> list[str]:
    """Port one Keras layer (or nested model) into one torch child; raises PortError."""
    if _is_keras_model(layer) and not hasattr(layer, "kernel"):
        return _port_model(layer, child, f"{prefix}{layer.name}/")
    rule = _port_rule(layer)
    if rule is None and _is_composite(layer):
        return _port_model(layer, child, f"{prefix}{layer.name}/")
    if rule is None:
        _port_custom(layer, child, where)
    else:
        rule(layer, child, where)
    return [where]


def _kinds(layer: Any) -> set[str]:
    """Torch module classes the layer table converts ``layer`` to (empty: any)."""
    from agent.rules.layers import lookup

    spec = lookup(f"keras.layers.{type(layer).__name__}")
    names = spec.torch if spec is not None else ()
    return {n.rsplit(".", 1)[-1] for n in names if n.startswith("torch.nn.")
            and n.rsplit(".", 1)[-1][:1].isupper()}


def _automatic(layer: Any) -> bool:
    """Is the layer's name one Keras made up (``dense``, ``dense_6``), not the user's?"""
    base = keras_snake(type(layer).__name__)
    return re.fullmatch(rf"{re.escape(base)}(_\d+)?", str(layer.name)) is not None


def _same_kind(kinds: set[str], child: nn.Module) -> bool:
    """A subclass counts as its kind (ActivatedLSTM is an nn.LSTM)."""
    return not kinds or any(c.__name__ in kinds for c in type(child).__mro__)


def _fits(layer: Any, child: nn.Module, prefix: str) -> PortError | None:
    """Would ``layer`` port into ``child``? Tried on a copy, so a failed try changes nothing."""
    try:
        _port_one(layer, copy.deepcopy(child), "", prefix)
    except PortError as exc:
        return exc
    except (KeyError, AttributeError, ValueError, TypeError, IndexError) as exc:
        return PortError(f"{type(exc).__name__}: {exc}")
    return None


def _creation_order(layers: list[Any]) -> list[Any]:
    """Graph order, except that layers of one type with Keras's automatic names are taken in
    the order they were made (``dense`` before ``dense_1``): a functional model lists a layer
    fed by its second input first when the output reads that branch first, while the
    converted class declares layers in the order the source made them."""
    def uid(layer: Any) -> int:
        tail = str(layer.name).rsplit("_", 1)
        return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else 0

    groups: dict[str, list[int]] = {}
    for k, layer in enumerate(layers):
        groups.setdefault(type(layer).__name__, []).append(k)
    out = list(layers)
    for slots in groups.values():
        members = [layers[k] for k in slots]
        if len(members) > 1 and all(_automatic(m) for m in members):
            for k, layer in zip(slots, sorted(members, key=uid), strict=True):
                out[k] = layer
    return out


def _port_model(keras_model: Any, module: nn.Module, prefix: str) -> list[str]:
    """Pair by structure: Keras layers in graph order (same-type layers in creation order),
    each with the first torch child left (in registration order) whose kind and shapes take
    its weights; a child with the layer's own name is tried first, so names only break ties
    between modules that fit."""
    layers = _creation_order(_keras_layers(keras_model))
    free = _torch_children(module, frozenset(type(layer).__name__ for layer in layers))
    done: list[str] = []
    for layer in layers:
        kinds = _kinds(layer)
        own = None if _automatic(layer) else layer.name  # "dense_6" says nothing
        # the same kind (then anything), first in order; a name the user gave breaks ties
        order = sorted(free, key=lambda nc: (not _same_kind(kinds, nc[1]), nc[0] != own))
        chosen: tuple[str, nn.Module] | None = None
        first_error: PortError | None = None
        for name, child in order:
            error = _fits(layer, child, prefix)
            if error is None:
                chosen = (name, child)
                break
            first_error = first_error or error
        if chosen is None:
            detail = f": {first_error}" if first_error and len(free) == 1 else ""
            left = ", ".join(n for n, _ in free) or "none"
            raise PortError(f"{prefix}{layer.name} ({type(layer).__name__}): no torch module "
                            f"left fits its weights (left: {left}){detail}")
        name, child = chosen
        done += _port_one(layer, child, f"{prefix}{layer.name} -> {name}", prefix)
        free = [(n, c) for n, c in free if n != name]
    leftover = [n for n, c in free if any(p.requires_grad for p in c.parameters())]
    if leftover:
        raise PortError(f"{prefix}torch modules {leftover} received no Keras weights")
    return done


def _materialize(module: nn.Module) -> None:
    """Lazy modules get their shapes from one forward on ``example_input_array``."""
    if not any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters()):
        return
    example = getattr(module, "example_input_array", None)
    if example is None:
        raise PortError("the torch module has lazy parameters and no example_input_array: "
                        "run one forward pass before porting")
    inputs = example if isinstance(example, (tuple, list)) else (example,)
    inputs = tuple(x.expand(2, *x.shape[1:]) if isinstance(x, torch.Tensor) and x.ndim
                   and x.shape[0] == 1 else x for x in inputs)  # BatchNorm wants 2 samples
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(*inputs)
    except Exception as exc:  # noqa: BLE001 - reported as one line
        raise PortError(f"lazy parameters: the forward on example_input_array failed: "
                        f"{type(exc).__name__}: {exc}") from exc
    finally:
        module.train(was_training)


def port_weights(keras_model: Any, module: nn.Module, *, prefix: str = "") -> list[str]:
    """Copy every Keras weight into ``module``; returns the ported pairs for the report.

    ``keras_model`` is a Keras model or the path of a ``.keras``/``.h5`` file. Layers pair
    with torch modules by structure (order, kind, shapes; names break ties); lazy modules
    are initialised first by a forward on ``example_input_array``. Raises PortError naming
    the first layer that has no counterpart or does not fit.
    """
    if isinstance(keras_model, (str, os.PathLike)):
        keras_model = load_keras_model(os.fspath(keras_model))
    _materialize(module)
    return _port_model(keras_model, module, prefix)


def _port_custom(layer: Any, m: nn.Module, where: str) -> None:
    """A custom layer: parameters named like the Keras weights (``add_weight(name=...)``),
    else in creation order (``add_weight`` order is the order the converted ``__init__``
    registers them), shapes checked either way."""
    w = _weights(layer)
    # a non-trainable Keras variable is a buffer: Keras lists the layer's own trainable
    # variables, then its own non-trainable ones, then its sub-layers' weights
    own_buffers = [(n, b) for n, b in m.named_buffers(recurse=False) if b.is_floating_point()]
    params = dict(m.named_parameters()) | dict(own_buffers)
    if all(key in params for key in w):
        for key, value in w.items():
            _set(params[key], value, where)
        return
    values = [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in layer.weights]
    targets = [*m.parameters(recurse=False), *(b for _, b in own_buffers),
               *(p for child in m.children() for p in child.parameters())]
    if len(values) != len(targets):
        raise PortError(f"{where}: custom layer has {len(values)} Keras weights "
                        f"({', '.join(sorted(w))}) and {len(targets)} torch parameters "
                        f"({', '.join(params)})")
    try:
        for value, target in zip(values, copy.deepcopy(targets), strict=True):
            _set(target, value, where)
    except PortError:
        if not _sublayers(layer):
            raise
        _port_mixed(layer, m, [*m.parameters(recurse=False), *(b for _, b in own_buffers)],
                    where)
        return
    for value, target in zip(values, targets, strict=True):
        _set(target, value, where)


def _port_mixed(layer: Any, m: nn.Module, own: list[Any], where: str) -> None:
    """A custom layer with weights of its own and sub-layers (``add_weight`` beside a
    ``Dense`` made in build): its own weights in order, each sub-layer by its port rule
    (a Dense kernel is transposed, which the flat order cannot do)."""
    inner = {id(v) for sub in _sublayers(layer) for v in sub.weights}
    mine = [v for v in layer.weights if id(v) not in inner]
    if len(mine) != len(own):
        raise PortError(f"{where}: custom layer has {len(mine)} weights of its own and "
                        f"{len(own)} torch parameters of its own")
    for value, target in zip(mine, own, strict=True):
        _set(target, np.asarray(value.numpy() if hasattr(value, "numpy") else value), where)
    _port_model(layer, m, f"{where}/")


def load_keras_model(path: str) -> Any:
    """A full Keras model from ``.keras``/``.h5`` (needs the keras package)."""
    import keras

    return keras.saving.load_model(path, compile=False)


def iter_pairs(pairs: Iterable[str]) -> str:
    return "\n".join(pairs)
