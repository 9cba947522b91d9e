"""Pretrained-backbone helpers copied into converted scripts that use keras.applications.

``keras.applications.<family>.preprocess_input`` has three formulas ("caffe", "tf", "torch"
modes of ``imagenet_utils``), all on channels-last input; the functions below are those
formulas for NumPy arrays and torch tensors alike (Keras's NumPy path also writes into a
float input in place; these return a new array). ``FrozenModule`` is Keras's
``trainable = False`` on a model: no gradients, and its BatchNormalization layers in
inference mode whatever mode the outer module is in; ``set_trainable`` is the same on
layers of a converted model named by attribute, ``set_module_trainable`` on a whole one.
``children_until`` is ``include_top=False`` for torchvision models whose classifier is not
one attribute.
"""

from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

_Image = TypeVar("_Image", np.ndarray, torch.Tensor)

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)


def _as_float(x: _Image) -> _Image:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.float()
    return x if np.issubdtype(x.dtype, np.floating) else x.astype("float32")


def preprocess_caffe(x: _Image) -> _Image:
    """Keras's "caffe" mode (VGG, ResNet v1): RGB -> BGR, ImageNet BGR means subtracted."""
    x = _as_float(x)
    if isinstance(x, torch.Tensor):
        return x.flip(-1) - x.new_tensor(CAFFE_MEAN_BGR)
    out: np.ndarray = x[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, dtype=x.dtype)
    return out


def preprocess_tf(x: _Image) -> _Image:
    """Keras's "tf" mode (Inception, Xception, MobileNet, ResNet v2): [0, 255] -> [-1, 1]."""
    x = _as_float(x)
    return x / 127.5 - 1.0


def preprocess_torch(x: _Image) -> _Image:
    """Keras's "torch" mode (DenseNet): [0, 255] -> [0, 1], ImageNet mean/std per channel."""
    x = _as_float(x)
    if isinstance(x, torch.Tensor):
        return (x / 255.0 - x.new_tensor(TORCH_MEAN_RGB)) / x.new_tensor(TORCH_STD_RGB)
    mean = np.asarray(TORCH_MEAN_RGB, dtype=x.dtype)
    out: np.ndarray = (x / 255.0 - mean) / np.asarray(TORCH_STD_RGB, dtype=x.dtype)
    return out


def preprocess_none(x: _Image) -> _Image:
    """Keras's EfficientNet/ConvNeXt ``preprocess_input``: the identity (the model rescales)."""
    return x


class FrozenModule(nn.Module):
    """Keras's ``trainable = False``: no gradients, BatchNorm in inference mode throughout."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "FrozenModule":
        super().train(mode)
        self.module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.module(x)
        return out


def set_trainable(model: nn.Module, names: tuple[str, ...], trainable: bool) -> None:
    """Keras's ``layer.trainable = ...`` on layers a converted model was built from, by the
    attributes that hold their modules (a layer without weights has none: nothing to do).
    Frozen: no gradients, and BatchNorm in inference mode whatever mode the model is in later,
    as Keras runs a frozen BatchNormalization."""
    for name in names:
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            set_module_trainable(module, trainable)


def set_module_trainable(module: nn.Module, trainable: bool) -> None:
    """Keras's ``model.trainable = ...`` on a converted model (a sub-model a fine-tuning
    script freezes, then unfreezes): gradients on or off, BatchNorm held in inference mode
    while frozen."""
    module.requires_grad_(trainable)
    for sub in module.modules():
        if isinstance(sub, nn.modules.batchnorm._BatchNorm):
            _hold_inference(sub, not trainable)


def _hold_inference(norm: nn.Module, frozen: bool) -> None:
    handle = norm.__dict__.pop("_k2l_frozen", None)
    if handle is not None:
        handle.remove()
    if frozen:
        norm.__dict__["_k2l_frozen"] = norm.register_forward_pre_hook(_inference)


def _inference(norm: nn.Module, args: Any) -> None:
    norm.training = False


def children_until(model: nn.Module, stop: str, skip: tuple[str, ...] = ()) -> nn.Sequential:
    """The child modules before ``stop`` (Keras's ``include_top=False``), minus ``skip``."""
    kept: list[nn.Module] = []
    for name, child in model.named_children():
        if name == stop:
            break
        if name not in skip:
            kept.append(child)
    return nn.Sequential(*kept)


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Keras's ``decode_predictions``: per sample, the ``top`` (id, name, score) triples,
    best first, named by torchvision's ImageNet categories; the id is the class index
    (torchvision has no WordNet ids)."""
    import torchvision  # only here: the other helpers need no torchvision

    categories = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    scores = np.asarray(preds.detach().cpu() if isinstance(preds, torch.Tensor) else preds)
    out: list[list[tuple[str, str, float]]] = []
    for row in scores:
        best = np.argsort(row)[::-1][:top]
        out.append([(str(int(k)), categories[int(k)], float(row[k])) for k in best])
    return out
