"""Arguments of the Keras loaders whose converted forms (runtime/keras_loaders.py) do not
reproduce every value: a call that passes another value keeps its Keras form and gets one
report line, instead of a converted file that fails or computes something else at run time.
"""

from __future__ import annotations

import libcst as cst

from agent.rules.values import code_of

_FALSE = ("False",)
_ZERO = ("0", "0.0")

# runtime helper -> argument -> the values (as written) the converted form reproduces
LIMITS: dict[str, dict[str, tuple[str, ...]]] = {
    "image_dataset_from_directory": {
        "interpolation": ('"bilinear"', "'bilinear'", '"nearest"', "'nearest'"),
        "crop_to_aspect_ratio": _FALSE, "pad_to_aspect_ratio": _FALSE,
    },
    "ImageDataGenerator": {
        "featurewise_center": _FALSE, "featurewise_std_normalization": _FALSE,
        "zca_whitening": _FALSE, "channel_shift_range": _ZERO, "brightness_range": ("None",),
        "interpolation_order": ("1",),
        "fill_mode": ('"nearest"', "'nearest'", '"constant"', "'constant'", '"reflect"',
                      "'reflect'"),
    },
}


def unsupported(helper: str, call: cst.Call) -> str:
    """Why ``call`` (to the Keras form of ``helper``) cannot convert; "" when it can."""
    limits = LIMITS.get(helper, {})
    for arg in call.args:
        name = arg.keyword.value if arg.keyword is not None else None
        if arg.star:
            return f"{helper}(**{code_of(arg.value)}): arguments not readable"
        if name in limits and code_of(arg.value) not in limits[name]:
            return (f"{helper}({name}={code_of(arg.value)}) is not converted (converted: "
                    f"{', '.join(limits[name])})")
    return ""
