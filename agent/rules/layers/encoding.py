"""Integer-output preprocessing layers with static tables: Discretization, CategoryEncoding.

Both are pure tensor code, so no runtime helper is copied. Keras 3's ``digitize`` puts a value
equal to a boundary in the upper bucket (``bins[i-1] <= x < bins[i]``), which is
``torch.bucketize(..., right=True)``; torch's default is the other side.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec, Unsupported


def _discretization(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    if a.get("bin_boundaries") is None:
        raise Unsupported("Discretization without bin_boundaries needs adapt(): give the bins")
    if a.get("output_mode") != "int":
        raise Unsupported(f"Discretization(output_mode={a.code('output_mode')})")
    bins = a.code("bin_boundaries")
    return Built(
        out=ins[0],
        forward="torch.bucketize({x}, {m_bins}, right=True)",
        modules=(("bins", f"torch.tensor({bins}, dtype=torch.float32)"),),
    )


def _category_encoding(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    shape = ins[0]
    mode = a.get("output_mode")
    n = a.get("num_tokens")
    if not isinstance(n, int):
        raise Unsupported("CategoryEncoding needs num_tokens known at conversion time")
    if a.get("sparse"):
        raise Unsupported("CategoryEncoding(sparse=True)")
    if len(shape) != 1:
        raise Unsupported(f"CategoryEncoding on rank-{len(shape) + 1} inputs")
    hot = f"F.one_hot({{x}}.long(), {n})"
    if mode == "one_hot":
        if shape[0] == 1:  # Keras squeezes a trailing axis of 1 before encoding
            return Built(out=(n,), forward=f"F.one_hot({{x}}.long().squeeze(-1), {n}).float()")
        return Built(out=(shape[0], n), forward=f"{hot}.float()")
    if mode == "multi_hot":
        return Built(out=(n,), forward=f"{hot}.amax(dim=-2).float()")
    if mode == "count":
        return Built(out=(n,), forward=f"{hot}.sum(dim=-2).float()")
    raise Unsupported(f"CategoryEncoding(output_mode={a.code('output_mode')})")


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "Discretization", ("bin_boundaries", "num_bins", "epsilon", "output_mode"),
        {"bin_boundaries": None, "num_bins": None, "epsilon": 0.01, "output_mode": "int"},
        _discretization, torch=("torch.bucketize", "torch.tensor"), port=None,
        examples=(Example("layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5])", (4,),
                          ("torch.bucketize(", "right=True")),),
    ),
    LayerSpec(
        "CategoryEncoding", ("num_tokens", "output_mode", "sparse"),
        {"num_tokens": None, "output_mode": "multi_hot", "sparse": False},
        _category_encoding, torch=("torch.nn.functional.one_hot",), port=None,
        # integer inputs: tests/test_encoding_layers.py compares them numerically
        examples=(Example("layers.CategoryEncoding(num_tokens=5)", (3,), (".amax(dim=-2)",),
                          equivalence=False),
                  Example('layers.CategoryEncoding(5, output_mode="count")', (3,),
                          (".sum(dim=-2)",), equivalence=False),
                  Example('layers.CategoryEncoding(5, output_mode="one_hot")', (1,),
                          (".squeeze(-1)",), equivalence=False)),
    ),
)
