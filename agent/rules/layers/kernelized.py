"""Kernel-approximation layers (Keras 2's ``layers.experimental.RandomFourierFeatures``)."""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported


def _random_fourier_features(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = ins[0]
    if len(shape) != 1:
        raise Unsupported("RandomFourierFeatures takes (batch, features) input only, as Keras")
    if shape[0] is None:
        raise Unsupported("RandomFourierFeatures: input size unknown statically")
    if a.get("trainable"):
        raise Unsupported("RandomFourierFeatures(trainable=True): its kernel scale trains "
                          "under Keras's NonNeg constraint, which the rules do not write")
    kernel = a.get("kernel_initializer")
    if kernel not in ("gaussian", "laplacian"):
        raise Unsupported("RandomFourierFeatures(kernel_initializer="
                          f"{a.code('kernel_initializer')})")
    args = [str(shape[0]), a.code("output_dim"), f'kernel_initializer="{kernel}"']
    if a.get("scale") is not None:
        args.append(f"scale={a.code('scale')}")
    return Built(out=(a.value("output_dim"),), forward="{m}({x})",
                 modules=(("", f"RandomFourierFeatureMap({', '.join(args)})"),))


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "RandomFourierFeatures", ("output_dim", "kernel_initializer", "scale", "trainable"),
        {"kernel_initializer": "gaussian", "scale": None, "trainable": False},
        _random_fourier_features, stateful=True, ignorable=("name", "dtype", "input_shape"),
        examples=(
            Example("layers.RandomFourierFeatures(8)", (4,),
                    ('RandomFourierFeatureMap(4, 8, kernel_initializer="gaussian")',),
                    equivalence=False),  # Keras 3 has no such layer: tests use tf_keras
            Example('layers.RandomFourierFeatures(16, kernel_initializer="laplacian", scale=2.0)',
                    (5,), ('kernel_initializer="laplacian",', "scale=2.0,"), equivalence=False),
        ),
    ),
)
