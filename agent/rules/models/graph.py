"""The model IR: what a Keras model is, independent of how it was written.

Sequential lists, ``add`` chains, functional graphs and nested models all become a
:class:`ModelIR`: layers (constructed once, maybe called several times) and calls in source
order over named tensors. Code generation works only from this.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst

from agent.rules.models.shapes import Shape
from agent.rules.spec import Args, LayerSpec
from agent.rules.values import Value, code_of

_CREATED = itertools.count()


def next_seq() -> int:
    """A creation number: layers made after this call get larger ones."""
    return next(_CREATED)


@dataclass
class Tensor:
    name: str  # variable name in forward()
    shape: Shape | None  # Keras order without batch; None = rank unknown
    dtype: str = "float"  # "float" | "long"
    free: set[str] = field(default_factory=set)  # names its shape expression uses
    example: int = 8  # the example input's size where the shape says None
    keras_name: str | None = None  # an Input's name=: the key of fit's dict inputs
    prepared_by: str = ""  # an Input made by a script's preprocessing layer (string_inputs)
    constant: bool = False  # made from Python values only: Keras computed it when building


@dataclass
class Layer:
    attr: str  # attribute on the module (the Keras layer name)
    line: int
    spec: LayerSpec | None = None  # a table layer
    args: Args | None = None
    inner_spec: LayerSpec | None = None  # wrapped layer (Bidirectional, TimeDistributed)
    inner_args: Args | None = None
    custom_ctor: str | None = None  # user class (converted elsewhere) or a submodel class
    submodel: ModelIR | None = None
    lambda_expr: str | None = None  # forward template from a Lambda / op on tensors
    lambda_elementwise: bool = False
    constant: str | None = None  # torch code of a constant tensor (constants.py): a buffer
    kept: str = ""  # why lambda_expr is the statement as written (no torch mapping): a TODO
    shape_rule: Callable[[Sequence[Shape | None]], Shape | None] | None = None  # op's output
    keras_name: str = ""  # for reports: "Dense", "MyLayer", ...
    # the script's name= (``get_layer``'s key): ``attr`` may differ, as Keras lets layers of
    # different models share a name and one scope's module attributes may not
    given_name: str = ""
    error: str | None = None  # why it cannot be converted (becomes a TODO + Unmapped)
    written: str = ""  # original constructor code (see ``source``)
    source_node: cst.CSTNode | None = None  # or its node, generated into code when read
    free: set[str] = field(default_factory=set)  # names its arguments use
    # creation order: Keras numbers auto names by it, and modules are declared in it
    seq: int = field(default_factory=lambda: next(_CREATED))
    block: BlockCall | None = None  # the helper call that created it (outermost)
    passed_in: bool = False  # a model instance of the enclosing scope: a constructor argument
    lazy_ctor: bool = False  # custom_ctor holds nn.Lazy modules (runtime_loops.py)
    lazy_init: tuple[str, ...] = ()  # their Keras initializers, run once a dry call sized them
    warnings: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """The original constructor code, generated on first read: most layers convert and
        never read it, and generating it costs about as much as the rest of making them."""
        if not self.written and self.source_node is not None:
            self.written = code_of(self.source_node)
        return self.written


@dataclass
class Call:
    layer: Layer
    inputs: list[Tensor]
    outputs: list[Tensor]
    line: int
    call_kwargs: dict[str, Value] = field(default_factory=dict)
    listed: bool = False  # the inputs came as one list, ``Sampling()([mean, log_var])``
    positional: bool = False  # one tensor per positional argument, ``Decoder()(x, memory)``
    block: BlockCall | None = None  # the helper call it was inlined from (outermost)


@dataclass
class BlockCall:
    """One call of a tensor helper that was inlined: codegen may turn the calls of one helper
    back into one submodule class (``blocks.py``)."""

    helper: str
    params: list[str]  # the helper's parameters, in order
    args: dict[str, str]  # non-tensor parameter -> the code it was replaced by
    inputs: list[tuple[str, Tensor]]  # tensor parameter -> the caller's tensor
    locals: dict[str, str]  # renamed local -> its name in the helper
    outputs: list[Tensor] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # the caller's names for the outputs
    new_calls: int = 0  # where its calls start in the extractor's pending calls
    first_seq: int = 0  # layers with a larger creation number were made by it


@dataclass
class RolledLoop:
    """``for _ in range(depth): x = block(x)`` with ``depth`` a builder parameter, unrolled
    for its default (rolled_loops.py): codegen builds the blocks with the same loop when they
    become one chain of identical modules, else the class asserts the value."""

    target: str  # the loop's target as written
    iter: str  # its iterable as written: ``range(depth)``
    count: int  # iterations unrolled
    blocks: list[BlockCall] = field(default_factory=list)  # one per iteration, in order
    names: set[str] = field(default_factory=set)  # the builder parameters it assumed
    notes: list[str] = field(default_factory=list)  # the asserts, when not rolled
    warnings: list[tuple[int, str]] = field(default_factory=list)  # reported when not rolled
    done: bool = False  # codegen wrote the loop
    paths: dict[str, str] = field(default_factory=dict)  # init paths (block_class)


@dataclass
class CtorParam:
    name: str
    default: str | None  # code, or None for a required parameter
    annotation: str | None = None
    kwonly: bool = False  # after the builder's ``*``: keyword-only in the class too
    passed: str | None = None  # what the call passes when not the same name
    # (``num_features=train_features.shape[-1]``, ``vocabulary=VOCABULARY``): signature.py
    called: bool = False  # the default is the value every call passes (reported)
    script: bool = False  # a module-level value the builder read (reported)


@dataclass
class ModelIR:
    class_name: str
    var: str  # the variable the original bound (or "" for `return Sequential(...)`)
    kind: str  # "Sequential" | "Functional"
    line: int
    inputs: list[Tensor]
    layers: list[Layer]
    calls: list[Call]
    outputs: list[Tensor]
    outputs_are_list: bool = False
    params: list[CtorParam] = field(default_factory=list)
    keras_name: str | None = None
    notes: list[str] = field(default_factory=list)
    regularized: bool = False  # generated class defines regularization_loss()
    # forward stores the mask Keras attaches to its one output (self.output_mask, masks.py)
    masked_output: bool = False
    graph_names: set[str] = field(default_factory=set)  # Keras tensor/layer variable names
    base: str = ""  # the script's own Model subclass it was built with (its train_step)
    # a model over another converted model's tensors (views.py): it takes that model's
    # instance and reuses its modules (Keras shares the layers, so the weights are the same)
    shares: ModelIR | None = None
    output_keys: list[str] | None = None  # outputs=dict: forward returns {key: tensor}
    # outputs=[layer.output, ...] where a layer has several outputs (its ``.output`` is their
    # list): per item, how many of ``outputs`` it holds (None: one tensor, not nested)
    output_groups: list[int | None] | None = None
    named_inputs: dict[str, Tensor] = field(default_factory=dict)  # Input(name=...) -> it
    module_paths: dict[str, str] = field(default_factory=dict)  # attr -> "layers[3]" when
    # the generated class keeps it inside an nn.Sequential (set by codegen)
    named: bool = False  # code outside reads its modules by attribute name (set_trainable)
    rolled: list[RolledLoop] = field(default_factory=list)  # loops codegen may write as loops
    fed: bool = False  # its input shape is the one the script feeds it (fed_inputs.py)
