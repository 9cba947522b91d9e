"""Every warning text the rules emit, and whether it means the converted code behaves differently.

A warning that marks a change of semantics (masks ignored, a different initializer, a callback
dropped) makes the file ``partial``: "converted" must mean "does what the original did".
Warnings that only explain a faithful translation (``Adam(weight_decay)`` written as AdamW)
leave the status alone. ``tests/test_warning_status.py`` scans ``agent/rules`` for every
warning the rules can emit and fails when one has no row here, so a new warning is classified
when it is written. A text no row matches counts as a change of semantics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class WarningKind:
    pattern: str  # regular expression, searched in the warning text
    semantic: bool  # True: the converted code can compute or do something else
    why: str


WARNINGS: tuple[WarningKind, ...] = (
    # layers and models
    WarningKind(r"activity_regularizer: penalty on the layer output divided by the batch size",
                False, "Keras 3 and TF-Keras 2 divide by the batch size too"),
    WarningKind(r"string inputs go in as NumPy arrays or lists of str \(HashingBins", False,
                "same bins as Keras for strings and integers (TF's FarmHash); only how strings "
                "reach the module differs: torch tensors hold no strings"),
    WarningKind(r"random augmentation: Keras's random draws are not reproduced", False,
                "same transform and distribution as Keras 3; only the random numbers differ "
                "(torch's generator), and inference is the identity in both"),
    WarningKind(r"hard_sigmoid follows Keras 3", True, "Keras 2 code computed another function"),
    WarningKind(r"ran once on a constant when Keras built the model", False,
                "Keras (3 and tf.keras) computed the layer's output once, from its initial "
                "weights, and the model kept only that tensor: the buffer is the same value"),
    WarningKind(r"\(Keras shares their weights between the two models\); the converted .* has "
                r"its own", True, "the later model's modules are new: it does not see what the "
                "first model's training changed (an inference model over trained layers)"),
    WarningKind(r"on the model's string input: the converted class takes its integer output",
                True, "the class is called on the layer's indices, not on strings"),
    WarningKind(r"Keras initializers not reproduced", True, "Lazy module: torch's default init"),
    WarningKind(r"is not called in call\(\): built without an input shape", True,
                "Lazy module: torch's default init"),
    WarningKind(r"input shape unknown statically: nn\.Lazy modules for", True,
                "Lazy modules: torch's default init, and they need one batch first"),
    WarningKind(r"some input sizes are unknown statically; Lazy modules used", False,
                "Keras sizes its layers on the first call too; Keras initializers run once "
                "the first batch sized them (a layer whose init is dropped says so itself)"),
    WarningKind(r"nn\.LazyLinear infers it on first call", False,
                "Keras sizes Dense on the first call too; its initializers run once the first "
                "batch sized it (a layer whose init is dropped says so itself)"),
    WarningKind(r"as Lightning's \"[^\"]*\" \(torch autocast", False,
                "the same mixed-precision training (float16 compute, float32 weights, loss "
                "scaling); torch autocast chooses the float16 ops"),
    WarningKind(r"tf\.distribute strategy removed: Lightning's Trainer", False,
                "the Trainer places the model on the devices (DDP across several) and keeps "
                "per-device and global batch sizes: a placement change, not a numeric one"),
    WarningKind(r"mixed precision policy not carried over", True,
                "the converted script trains in float32 where Keras trained in mixed precision"),
    WarningKind(r"made in build\(\) from the input shape: created on the first call", False,
                "Keras creates them in build() on the first call too; a converted model's dry "
                "call makes them before its optimizer (a layer used alone needs one batch "
                "first, as nn.Lazy modules do)"),
    WarningKind(r"the modules build\(\) makes on the first call are made after the optimizer",
                True, "an optimizer made before the first batch holds none of their "
                "parameters, which then never train; Keras's optimizer builds its slots for "
                "every variable on its first step"),
    WarningKind(r"runtime attention module sized on its first call", False,
                "Keras's MultiHeadAttention computation, kernels and initializers, in torch"),
    WarningKind(r"depthwise kernel init uses torch's fan", True, "another initial distribution"),
    WarningKind(r"depthwise initializer fans follow torch's weight shape", True,
                "another initial distribution"),
    WarningKind(r"Masking: the zeroed steps are computed as in Keras, but torch layers after it",
                True, "later layers do not skip masked steps"),
    WarningKind(r"Embedding\(mask_zero=True\): torch has no implicit masks", True,
                "padded steps reach later layers"),
    WarningKind(r"runs the masked steps that Keras skips", True,
                "a recurrent form masked_rnn cannot run computes the padded steps"),
    WarningKind(r" for .*=.* \(.*\): the converted model asserts that value", True,
                "another value of the parameter is refused instead of honoured"),
    WarningKind(r"the crop window is computed there", True,
                "an input smaller than the crop fails where Keras resizes it"),
    WarningKind(r"window size known only at run time: written as in the source", False,
                "the source's window, and torch's padding for it"),
    WarningKind(r"pool size known only at run time: written as in the source", False,
                "the source's pooling window"),
    WarningKind(r"pool size known only at run time: TF's \"same\" padding computed", False,
                "KerasSamePool pads each input as TF does and averages only its real cells"),
    WarningKind(r"target shape known only at run time: written as in the source", False,
                "the source's target shape, read when the model runs (Keras's -1 is torch's)"),
    WarningKind(r"padding=.* known only at run time: torch's padding='same' is TF's only", True,
                "strided 'same' padding can differ from TF's"),
    WarningKind(r"input rank unknown: the last axis is normalized whatever the rank", False,
                "Keras normalizes the last axis too"),
    WarningKind(r"image_data_format\(\) resolved to 'channels_last'", False,
                "Keras's default data format, and the converted model keeps it"),
    WarningKind(r"the mask its compute_mask attaches is not passed on", True,
                "layers after it compute the steps Keras masks"),
    WarningKind(r"call\(\) reads mask, which Keras passed implicitly", True,
                "without an explicit mask= the padded steps are not masked"),
    WarningKind(r"add_weight for self\..* has no literal name=", False,
                "naming only: port_weights pairs unnamed weights by creation order"),
    # keras.applications backbones (agent/rules/models/applications.py)
    WarningKind(r"torchvision\.models\..* with random weights: torchvision initializes", True,
                "another initial distribution"),
    WarningKind(r"with torchvision's ImageNet weights \(.*\), not Keras's", True,
                "other pretrained weights: other outputs"),
    WarningKind(r"torchvision's (ResNet is v1\.5|EfficientNet pads|InceptionV3 has BatchNorm|"
                r"MobileNetV2 pads|DenseNet uses BatchNorm)", True,
                "torchvision's architecture differs from Keras's in the details it names"),
    WarningKind(r"torchvision's classifier has Dropout", True,
                "the classifier head differs from Keras's"),
    WarningKind(r"divides its \[0, 255\] input by 255 itself .*: so does the converted one",
                False, "the same rescaling, written as a Normalize module"),
    WarningKind(r"normalizes its \[0, 255\] input itself: the converted one applies the "
                r"ImageNet mean/std", True, "torchvision's normalization, not Keras's formula"),
    WarningKind(r"the InputLayer entries of model\.layers are left out of the converted dict",
                True, "the dict lacks the entries of the inputs Keras has"),
    WarningKind(r"get_layer\(\.\.\.\)\.output of .* -> create_feature_extractor on", False,
                "the same layer's output, read from the backbone's torchvision model"),
    WarningKind(r"trainable = False -> FrozenModule", False,
                "Keras's frozen model: no gradients, BatchNorm in inference mode"),
    WarningKind(r"\.trainable = \.\.\.` -> set_trainable\(", False,
                "Keras's frozen layers: no gradients, BatchNorm in inference mode"),
    # training
    WarningKind(r"ReduceLROnPlateau moved into configure_optimizers", False,
                "patience rewritten so the schedule is Keras's"),
    WarningKind(r"TensorBoard callback dropped", True, "no TensorBoard logs"),
    WarningKind(r"LambdaCallback batch hooks get this batch's loss", True,
                "batch hooks see per-batch values, not Keras's running means"),
    WarningKind(r"fit\(initial_epoch=\.\.\.\): the Trainer runs", True,
                "the optimizer state starts afresh"),
    WarningKind(r"keras\.utils\.plot_model dropped", True, "no model diagram is written"),
    WarningKind(r"optimizer named by the parameter \w+: a Keras name", False,
                "the name is looked up as Keras's get() does, each optimizer with Keras's "
                "defaults: what Keras builds for that name"),
    WarningKind(r"custom loss .* called on torch tensors", True, "unchecked user code"),
    WarningKind(r"Keras Adam\(weight_decay\) is decoupled: written as torch\.optim\.AdamW", False,
                "AdamW is the same update"),
    WarningKind(r"decays weights decoupled; torch's weight_decay is L2", True,
                "another weight decay"),
    WarningKind(r"keras\.utils\.Sequence -> torch Dataset of whole batches", False,
                "the same batches"),
    WarningKind(r"a keras\.utils\.Sequence yields whole batches", False, "the same batches"),
    WarningKind(r"tf\.data shuffle after batch shuffles batches", True, "another shuffle"),
    WarningKind(r'fit\(shuffle="batch"\) shuffles whole samples', True, "another shuffle"),
    WarningKind(r"load_model -> load_from_checkpoint", True, "reads .ckpt, not .keras/.h5"),
)

_COMPILED = tuple((re.compile(k.pattern), k) for k in WARNINGS)


def kind_of(message: str) -> WarningKind | None:
    """The row a warning text matches, or None."""
    for pattern, kind in _COMPILED:
        if pattern.search(message):
            return kind
    return None


def changes_semantics(message: str) -> bool:
    """Does this warning mean the converted code may behave differently? Unknown: yes."""
    kind = kind_of(message)
    return True if kind is None else kind.semantic
