"""Keras's ``get_weights``/``set_weights`` on converted modules, copied into scripts that read
or write a layer's weights (``model.get_layer("conv1").get_weights()``, weight surgery in
NumPy, ``model.set_weights(teacher.get_weights())``).

Keras lists a layer's weights in its own layout and order (a Dense kernel ``(in, out)``, a
convolution's ``(k..., in, out)``, LSTM gates i, f, c, o and GRU z, r, h in one kernel);
torch keeps other shapes and other names. ``LAYOUTS`` says, per kind of layer, which torch
parameter each Keras weight is and how its axes map: the converter's weight porting
(``agent/weights``) writes Keras weights through the same table, so the two never disagree.
Model-level lists follow Keras 3 (each layer's weights in turn, BatchNormalization's moving
statistics with its layer); Keras 2 listed every trainable weight first.
"""

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

# kind -> its Keras weights in Keras's order: (Keras name, torch attribute, axis map);
# "{s}" is the recurrent layers' suffix (``_l0``, ``_l0_reverse``, "" for cells)
LAYOUTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "dense": (("kernel", "weight", "transpose"), ("bias", "bias", "")),
    "conv": (("kernel", "weight", "kernel"), ("bias", "bias", "")),
    "conv_transpose": (("kernel", "weight", "kernel"), ("bias", "bias", "")),
    "depthwise": (("depthwise_kernel", "weight", "depthwise"), ("bias", "bias", "")),
    "batch_norm": (("gamma", "weight", ""), ("beta", "bias", ""),
                   ("moving_mean", "running_mean", ""),
                   ("moving_variance", "running_var", "")),
    "layer_norm": (("gamma", "weight", ""), ("beta", "bias", "")),
    "embedding": (("embeddings", "weight", ""),),
    "lstm": (("kernel", "weight_ih{s}", "transpose"),
             ("recurrent_kernel", "weight_hh{s}", "transpose"),
             ("bias", "bias_ih{s}+bias_hh{s}", "bias")),
    "simplernn": (("kernel", "weight_ih{s}", "transpose"),
                  ("recurrent_kernel", "weight_hh{s}", "transpose"),
                  ("bias", "bias_ih{s}+bias_hh{s}", "bias")),
    "gru": (("kernel", "weight_ih{s}", "gates"), ("recurrent_kernel", "weight_hh{s}", "gates"),
            ("bias", "bias_ih{s}+bias_hh{s}", "gru_bias")),
}


def _gate_swap(a: np.ndarray, axis: int) -> np.ndarray:
    """Keras's GRU blocks z, r, h <-> torch's r, z, n (the swap is its own inverse)."""
    z, r, h = np.split(a, 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def _to_keras(how: str, w: np.ndarray, groups: int) -> np.ndarray:
    n = w.ndim
    if how == "transpose":
        return w.T
    if how == "kernel":  # torch (out, in, k...) / transposed (in, out, k...) -> (k..., in, out)
        return np.transpose(w, (*range(2, n), 1, 0))
    if how == "depthwise":  # (in * mult, 1, k...) -> (k..., in, mult)
        flat = np.transpose(w[:, 0], (*range(1, n - 1), 0))
        return flat.reshape(*flat.shape[:-1], groups, -1)
    if how == "gates":
        return _gate_swap(w.T, 1)
    return w


def _to_torch(how: str, k: np.ndarray) -> np.ndarray:
    n = k.ndim
    if how == "transpose":
        return k.T
    if how == "kernel":
        return np.transpose(k, (n - 1, n - 2, *range(n - 2)))
    if how == "depthwise":
        flat = k.reshape(*k.shape[:-2], -1)  # channel c, multiplier j -> c * mult + j
        return np.transpose(flat, (n - 2, *range(n - 2)))[:, None]
    if how == "gates":
        return _gate_swap(k, 1).T
    return k


def _write(target: torch.Tensor, value: Any, what: str) -> None:
    t = torch.as_tensor(np.ascontiguousarray(value), dtype=target.dtype)
    if tuple(t.shape) != tuple(target.shape):
        raise ValueError(f"{what}: an array of shape {tuple(np.shape(value))} does not fit "
                         f"the layer's weight of Keras shape {tuple(t.shape)} (torch "
                         f"{tuple(target.shape)})")
    with torch.no_grad():
        target.copy_(t.to(target.device))


def _weight_array(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _bias_slot(name: str, m: nn.Module, sfx: str, how: str) -> tuple[str, Any, Any] | None:
    """Keras's one RNN bias is torch's ``bias_ih + bias_hh`` (ported with ``bias_hh`` at
    zero); a ``reset_after`` GRU's (2, 3 units) bias is both, gate blocks swapped."""
    ih, hh = getattr(m, f"bias_ih{sfx}", None), getattr(m, f"bias_hh{sfx}", None)
    if ih is None or hh is None:
        return None
    if how == "gru_bias" and getattr(m, "reset_after", True) is not False:
        def read() -> np.ndarray:
            return np.stack([_gate_swap(_weight_array(ih), 0), _gate_swap(_weight_array(hh), 0)])

        def write(v: np.ndarray) -> None:
            if np.ndim(v) != 2:
                raise ValueError("GRU(reset_after=False) weights have no nn.GRU layout")
            _write(ih, _gate_swap(np.asarray(v)[0], 0), name)
            _write(hh, _gate_swap(np.asarray(v)[1], 0), name)

        return name, read, write
    swap = how == "gru_bias"

    def read_sum() -> np.ndarray:
        total = _weight_array(ih) + _weight_array(hh)
        return _gate_swap(total, 0) if swap else total

    def write_one(v: np.ndarray) -> None:
        _write(ih, _gate_swap(np.asarray(v), 0) if swap else v, name)
        with torch.no_grad():
            hh.zero_()

    return name, read_sum, write_one


def layout_slots(kind: str, m: nn.Module, sfx: str = "") -> list[tuple[str, Any, Any]]:
    """Each Keras weight of ``m`` (a module of ``kind``): its name, a reader returning it
    in Keras's layout, a writer taking it in that layout. Weights torch lacks (a layer
    without bias) are left out, as Keras has none either."""
    groups = int(getattr(m, "groups", 1))
    out: list[tuple[str, Any, Any]] = []
    for name, attr, how in LAYOUTS[kind]:
        if how in ("bias", "gru_bias"):
            slot = _bias_slot(name, m, sfx, how)
            if slot is not None:
                out.append(slot)
            continue
        target = getattr(m, attr.format(s=sfx), None)
        if not isinstance(target, torch.Tensor):
            continue

        def read(t: torch.Tensor = target, h: str = how) -> np.ndarray:
            return _to_keras(h, _weight_array(t), groups)

        def write(v: np.ndarray, t: torch.Tensor = target, h: str = how,
                  n: str = name) -> None:
            _write(t, _to_torch(h, np.asarray(v)), n)

        out.append((name, read, write))
    return out


_RECURRENT = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "simplernn"}
_CELLS = {nn.LSTMCell: "lstm", nn.GRUCell: "gru", nn.RNNCell: "simplernn"}
_CELL_NAMES = {"KerasLSTMCell": "lstm", "KerasGRUCell": "gru", "KerasSimpleRNNCell": "simplernn"}


def _module_slots(m: nn.Module) -> list[tuple[str, Any, Any]] | None:
    """The Keras weights of a module the converter makes for one Keras layer; None for a
    module of another kind (a converted custom layer, a block of layers)."""
    if isinstance(m, nn.Linear):
        return layout_slots("dense", m)
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        return layout_slots("conv_transpose", m)
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        depthwise = m.groups > 1 and m.groups == m.in_channels  # DepthwiseConv's form
        return layout_slots("depthwise" if depthwise else "conv", m)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return layout_slots("batch_norm", m)
    if isinstance(m, nn.LayerNorm):
        return layout_slots("layer_norm", m)
    if isinstance(m, nn.Embedding):
        return layout_slots("embedding", m)
    for cls, kind in _RECURRENT.items():
        if isinstance(m, cls):  # Bidirectional: the forward layer's weights, then backward's
            sides = ("_l0", "_l0_reverse") if m.bidirectional else ("_l0",)
            return [slot for sfx in sides for slot in layout_slots(kind, m, sfx)]
    for cls, kind in _CELLS.items():
        if isinstance(m, cls):
            return layout_slots(kind, m)
    kind = _CELL_NAMES.get(type(m).__name__, "")
    return layout_slots(kind, m) if kind else None


def _is_metric(m: nn.Module) -> bool:
    """Epoch logs and metric objects: state, but no weights Keras lists."""
    return any(c.__name__ in ("Metric", "MetricCollection") for c in type(m).__mro__)


def _slots(m: nn.Module) -> list[tuple[str, Any, Any]]:
    """Keras's weights of a layer or a model, in Keras 3's order: a known layer's by the
    table; any other module's own parameters and floating-point buffers (a converted custom
    layer's ``add_weight`` order), then its children's in turn."""
    known = _module_slots(m)
    if known is not None:
        return known
    out: list[tuple[str, Any, Any]] = []
    own = [*m.named_parameters(recurse=False),
           *((n, b) for n, b in m.named_buffers(recurse=False)
             if b is not None and b.is_floating_point())]
    for name, t in own:
        if t is None:
            continue

        def read(t: torch.Tensor = t) -> np.ndarray:
            return _weight_array(t)

        def write(v: np.ndarray, t: torch.Tensor = t, n: str = name) -> None:
            _write(t, v, n)

        out.append((name, read, write))
    for child in m.children():
        if not _is_metric(child):
            out += _slots(child)
    return out


def layer_weights(module: nn.Module | None) -> list[np.ndarray]:
    """Keras's ``layer.get_weights()`` / ``model.get_weights()``: NumPy copies in Keras's
    layout and order (``None``, a layer without a module such as Flatten: none)."""
    return [] if module is None else [read() for _, read, _ in _slots(module)]


def set_layer_weights(module: nn.Module | None, weights: Iterable[Any]) -> None:
    """Keras's ``set_weights``: arrays in Keras's layout and order, written in place into the
    torch parameters (no gradient recorded); the count and each shape must fit, as in Keras."""
    values = list(weights)
    slots = [] if module is None else _slots(module)
    if len(values) != len(slots):
        names = ", ".join(name for name, _, _ in slots) or "none"
        raise ValueError(f"set_weights: {len(values)} arrays given, the layer has "
                         f"{len(slots)} weights ({names})")
    for value, (_, _, write) in zip(values, slots, strict=True):
        write(np.asarray(value))


def layer_weight(module: nn.Module, name: str) -> np.ndarray:
    """Keras's ``layer.kernel.numpy()`` (``bias``, ``embeddings``, ...): a NumPy copy of
    the weight of that Keras name, in Keras's layout."""
    for slot_name, read, _ in _slots(module):
        if slot_name == name:
            return read()  # type: ignore[no-any-return]
    raise AttributeError(f"{type(module).__name__} has no Keras weight {name!r}")


def layer_named(model: nn.Module, name: str) -> nn.Module:
    """Keras's ``model.get_layer(name)`` on a converted model: the module the converter named
    after the layer (``conv2-deeper`` -> ``conv2_deeper``), for a name known only at run
    time (the rules write the attribute itself for a name in the source)."""
    attr = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    attr = "_" + attr if not attr or attr[0].isdigit() else attr
    for candidate in (attr, f"{attr}_", f"{attr}_layer"):
        found = getattr(model, candidate, None)
        if isinstance(found, nn.Module):
            return found
    raise ValueError(f"No such layer: {name} (no module of the converted model has its name: "
                     "a layer without weights may have become part of forward)")
