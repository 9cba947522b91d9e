"""ActivityRegularization(l1, l2): an identity whose penalty on its input joins the loss.

The module is ``nn.Identity()`` so the activity hook (training/activity.py, wired in
models/codegen.py) has a module to hang on; ``activity.layer_penalty`` reads l1/l2.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, BuildContext, Built, Example, LayerSpec


def _build(a: Args, ins: Sequence[Shape], ctx: BuildContext) -> Built:
    a.code("l1")
    a.code("l2")
    return Built(out=ins[0], forward="{m}({x})", modules=(("", "nn.Identity()"),))


SPECS: tuple[LayerSpec, ...] = (
    LayerSpec("ActivityRegularization", ("l1", "l2"), {"l1": 0.0, "l2": 0.0}, _build,
              torch=("torch.nn.Identity",), stateful=True,
              examples=(
                  Example("layers.ActivityRegularization(l1=0.01)", (4,),
                          ("nn.Identity()", "0.01 * y.abs().sum()", "/ y.shape[0]")),
                  Example("layers.ActivityRegularization(0.0, 0.02)", (3, 4),
                          ("0.02 * y.square().sum()",), forbid=("abs()",)),
              )),
)
