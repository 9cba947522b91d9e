"""Copy trained weights from a Keras model into its converted torch module.

Layers are paired by name first (converted modules keep Keras layer names), then by kind
in creation order (Keras's auto names ``dense``, ``dense_1``... encode it), so a model built
in a session whose name counters had moved on still ports. Any mismatch fails loudly,
naming the layer: a silent partial port is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from torch import nn

from agent.rules.naming import keras_snake
from agent.weights.base import Array, PortError, _set, _weights
from agent.weights.layer_rules import EXTRA_PORTS, time_distributed


def _dense(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    _set(m.weight, w["kernel"].T, where)  # type: ignore[arg-type]
    if "bias" in w:
        _set(m.bias, w["bias"], where)  # type: ignore[arg-type]


def _conv(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    k = w["kernel"]
    n = k.ndim
    _set(m.weight, np.transpose(k, (n - 1, n - 2, *range(n - 2))), where)  # type: ignore[arg-type]
    if "bias" in w:
        _set(m.bias, w["bias"], where)  # type: ignore[arg-type]


def _conv_transpose(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    _set(m.weight, np.transpose(w["kernel"], (3, 2, 0, 1)), where)  # type: ignore[arg-type]
    if "bias" in w:
        _set(m.bias, w["bias"], where)  # type: ignore[arg-type]


def _depthwise(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    k = w.get("depthwise_kernel", w.get("kernel"))
    if k is None:
        raise PortError(f"{where}: no depthwise kernel")
    kh, kw, cin, mult = k.shape
    flat = k.reshape(kh, kw, cin * mult)  # channel c, multiplier j -> c * mult + j, as torch
    _set(m.weight, np.transpose(flat, (2, 0, 1))[:, None], where)  # type: ignore[arg-type]
    if "bias" in w:
        _set(m.bias, w["bias"], where)  # type: ignore[arg-type]


def _batch_norm(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    if "gamma" in w:
        _set(m.weight, w["gamma"], where)  # type: ignore[arg-type]
    if "beta" in w:
        _set(m.bias, w["beta"], where)  # type: ignore[arg-type]
    _set(m.running_mean, w["moving_mean"], where)  # type: ignore[arg-type]
    _set(m.running_var, w["moving_variance"], where)  # type: ignore[arg-type]


def _layer_norm(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    if "gamma" in w:
        _set(m.weight, w["gamma"], where)  # type: ignore[arg-type]
    if "beta" in w:
        _set(m.bias, w["beta"], where)  # type: ignore[arg-type]


def _embedding(layer: Any, m: nn.Module, where: str) -> None:
    w = _weights(layer)
    _set(m.weight, w.get("embeddings", next(iter(w.values()))), where)  # type: ignore[arg-type]


def _gru_blocks(a: Array, axis: int) -> Array:
    """Keras gate blocks z, r, h → torch r, z, n."""
    z, r, h = np.split(a, 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def _rnn_into(kind: str, layer: Any, m: nn.Module, sfx: str, where: str) -> None:
    w = _weights(layer)
    kernel, recurrent = w["kernel"], w["recurrent_kernel"]
    bias = w.get("bias")
    if kind == "gru":
        kernel, recurrent = _gru_blocks(kernel, 1), _gru_blocks(recurrent, 1)
    _set(getattr(m, f"weight_ih_l0{sfx}"), kernel.T, where)
    _set(getattr(m, f"weight_hh_l0{sfx}"), recurrent.T, where)
    if bias is None:
        return
    if kind == "gru":
        if bias.ndim == 2:  # reset_after=True: input and recurrent biases
            _set(getattr(m, f"bias_ih_l0{sfx}"), _gru_blocks(bias[0], 0), where)
            _set(getattr(m, f"bias_hh_l0{sfx}"), _gru_blocks(bias[1], 0), where)
            return
        raise PortError(f"{where}: GRU(reset_after=False) weights have no nn.GRU layout")
    _set(getattr(m, f"bias_ih_l0{sfx}"), bias, where)
    _set(getattr(m, f"bias_hh_l0{sfx}"), np.zeros_like(bias), where)


def _rnn(kind: str) -> Callable[[Any, nn.Module, str], None]:
    def port(layer: Any, m: nn.Module, where: str) -> None:
        _rnn_into(kind, layer, m, "", where)

    return port


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
    "dense": _dense,
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "depthwise": _depthwise,
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    "embedding": _embedding,
    "lstm": _rnn("lstm"),
    "gru": _rnn("gru"),
    "simplernn": _rnn("simplernn"),
    "bidirectional": _bidirectional,
    "prelu": _prelu,
}


PORTS.update(EXTRA_PORTS)
SEQUENTIAL_ATTR = "layers"  # agent.rules.models.sequential names the stack so

_AUTO = re.compile(r"^(?P<base>.+?)(?:_(?P<n>\d+))?$")


def _rank(name: str) -> tuple[str, int]:
    m = _AUTO.match(name)
    assert m is not None
    return m.group("base"), int(m.group("n") or 0)


def _keras_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if layer.weights]


def _is_keras_model(layer: Any) -> bool:
    return hasattr(layer, "layers") and hasattr(layer, "inputs") or type(layer).__name__ in (
        "Sequential", "Functional", "Model")


def _torch_children(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that hold weights, in declaration order; the ``nn.Sequential`` of a converted
    Keras Sequential counts as the layers inside it."""
    out: list[tuple[str, nn.Module]] = []
    for n, c in module.named_children():
        if type(c) is nn.Sequential and n == SEQUENTIAL_ATTR:
            out += [(f"{n}.{k}", m) for k, m in _torch_children(c)]
        elif any(True for _ in c.parameters()) or any(True for _ in c.buffers()):
            out.append((n, c))
    return out


def _same_type(layer: Any, module: nn.Module) -> bool:
    """The module is of a torch class the layer table maps this Keras layer to."""
    from agent.rules.layers import lookup

    spec = lookup(f"keras.layers.{type(layer).__name__}")
    if spec is None:
        return False
    names = {t.rsplit(".", 1)[-1] for t in spec.torch}
    return type(module).__name__ in names | {f"Lazy{n}" for n in names}


def _port_rule(layer: Any) -> Callable[[Any, nn.Module, str], None] | None:
    from agent.rules.layers import lookup

    spec = lookup(f"keras.layers.{type(layer).__name__}")
    if spec is None or spec.port is None:
        return None
    return PORTS[spec.port]


PORTS["time_distributed"] = time_distributed(_port_rule)


def port_weights(keras_model: Any, module: nn.Module, *, prefix: str = "") -> list[str]:
    """Copy every Keras weight into ``module``; returns the ported pairs for the report.

    Raises PortError naming the first layer that has no counterpart or does not fit.
    """
    layers = _keras_layers(keras_model)
    children = _torch_children(module)
    by_name = dict(children)
    pairs: list[tuple[Any, str, nn.Module]] = []
    used: set[str] = set()
    rest: list[Any] = []
    for layer in layers:
        auto = _rank(layer.name)[0] == keras_snake(type(layer).__name__)
        if not auto and layer.name in by_name and layer.name not in used:
            pairs.append((layer, layer.name, by_name[layer.name]))
            used.add(layer.name)
        else:
            rest.append(layer)
    # creation order within each kind: Keras's name counters are monotonic per base name
    rest.sort(key=lambda lyr: (keras_snake(type(lyr).__name__), _rank(lyr.name)[1]))
    free = [(n, c) for n, c in children if n not in used]
    kinds = {keras_snake(type(lyr).__name__) for lyr in layers}
    for layer in sorted(rest, key=lambda lyr: layers.index(lyr)):
        kind = keras_snake(type(layer).__name__)
        same_kind = [lyr for lyr in rest if keras_snake(type(lyr).__name__) == kind]
        # modules named after the source's variable (``shared = Dense(8)`` → ``self.shared``)
        # join their kind by type; declarations follow Keras's creation order
        pool = [(n, c) for n, c in free if _rank(n)[0] == kind
                or _rank(n)[0] not in kinds and _same_type(layer, c)]
        candidates = pool or free
        if not candidates:
            raise PortError(f"{prefix}{layer.name} ({type(layer).__name__}): no torch module left "
                            "to receive its weights")
        index = same_kind.index(layer)
        name, child = pool[index] if index < len(pool) and pool else candidates[0]
        pairs.append((layer, name, child))
        free = [(n, c) for n, c in free if n != name]
        rest = [lyr for lyr in rest if lyr is not layer]
    done: list[str] = []
    for layer, name, child in pairs:
        where = f"{prefix}{layer.name} -> {name}"
        if _is_keras_model(layer) and not hasattr(layer, "kernel"):
            done += port_weights(layer, child, prefix=f"{prefix}{layer.name}/")
            continue
        rule = _port_rule(layer)
        if rule is None:
            _port_custom(layer, child, where)
        else:
            rule(layer, child, where)
        done.append(where)
    leftover = [n for n, _ in children if n not in {p[1] for p in pairs}
                and any(p.requires_grad for p in dict(children)[n].parameters())]
    if leftover:
        raise PortError(f"{prefix}torch modules {leftover} received no Keras weights")
    return done


def _port_custom(layer: Any, m: nn.Module, where: str) -> None:
    """A custom layer: parameters named like the Keras weights (``add_weight(name=...)``)."""
    w = _weights(layer)
    params = dict(m.named_parameters())
    for key, value in w.items():
        target = params.get(key)
        if target is None:
            raise PortError(f"{where}: custom layer weight {key!r} has no torch parameter "
                            f"(torch has {sorted(params)})")
        _set(target, value, where)


def load_keras_model(path: str) -> Any:
    """A full Keras model from ``.keras``/``.h5`` (needs the keras package)."""
    import keras

    return keras.saving.load_model(path, compile=False)


def iter_pairs(pairs: Iterable[str]) -> str:
    return "\n".join(pairs)
