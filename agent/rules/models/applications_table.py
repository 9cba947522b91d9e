"""The keras.applications table: each Keras application → its torchvision.models builder.

Data only. ``differs`` says, for the report, where torchvision's architecture is not Keras's
(empty when the layers are the same: VGG's conv/linear shapes match layer for layer);
``top_differs`` the same for the classifier part. Applications torchvision has no model for
carry ``builder=""`` and are reported, never replaced by something else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backbone:
    keras: str  # class name under keras.applications
    module: str  # the keras.applications submodule that defines it
    builder: str = ""  # torchvision.models builder; "" = none
    weights: str = ""  # torchvision.models weights enum member for weights="imagenet"
    features: str = ""  # include_top=False from the built model ``{m}``
    channels: int = 0  # channels of the include_top=False output
    spatial: str = "ceil32"  # how the feature map's size follows the input's (SPATIAL)
    extra: str = ""  # builder keywords written for weights=None (", aux_logits=False")
    top_weights: bool = True  # include_top=True with torchvision's weights is one tensor out
    rescales: bool = False  # the Keras model scales its [0, 255] input itself (PREFIX)
    differs: str = ""
    top_differs: str = ""


_MOMENTUM = ("BatchNorm momentum 0.1 in torch's convention (Keras's 0.99 is torch's 0.01): "
             "running statistics move faster while it trains")

# how torchvision's architecture differs from Keras's, by Backbone.differs/top_differs key
DIFFERS_WARNINGS: dict[str, str] = {
    "resnet": "torchvision's ResNet is v1.5 (the stride of a downsampling block is in its 3x3 "
              "convolution; Keras's v1 has it in the first 1x1), its convolutions have no bias "
              f"(Keras's have one), its BatchNorm eps is 1e-5 (Keras: 1.001e-5), {_MOMENTUM}",
    "efficientnet": "torchvision's EfficientNet pads stride-2 convolutions symmetrically "
                    "(Keras: TF 'same' padding, bottom/right first) and uses BatchNorm eps "
                    f"1e-5 (Keras: 1e-3), {_MOMENTUM}",
    "inception": "torchvision's InceptionV3 has BatchNorm scale parameters (Keras: "
                 "scale=False) and orders some branches of its mixed blocks differently (the "
                 f"concatenated channels come in another order), {_MOMENTUM}",
    "mobilenet_v2": "torchvision's MobileNetV2 pads stride-2 convolutions symmetrically (Keras: "
                    "ZeroPadding2D bottom/right + 'valid') and uses BatchNorm eps 1e-5, momentum "
                    "0.1 (Keras: 1e-3, and 0.999: torch's 0.001)",
    "densenet": f"torchvision's DenseNet uses BatchNorm eps 1e-5 (Keras: 1.001e-5), {_MOMENTUM}",
    "vgg_top": "torchvision's classifier has Dropout(0.5) after fc1 and fc2 and an "
               "AdaptiveAvgPool2d((7, 7)) before it (Keras's has neither), and flattens channels "
               "first",
    "inception_top": "torchvision's classifier has Dropout(0.5) before fc (Keras's has none)",
    "mobilenet_v2_top": "torchvision's classifier has Dropout(0.2) before the last Linear "
                        "(Keras's has none)",
}
# what a rescaling Keras model does to its input first, channels first: x / 255 without
# weights (its Normalization layer is not adapted); with ImageNet weights, the normalization
# torchvision's weights expect (Keras's own divides by std ** 1.5, keras-team/keras#49930)
PREFIX = {
    "None": "torchvision.transforms.Normalize(mean=[0.0, 0.0, 0.0], std=[255.0, 255.0, 255.0])",
    "imagenet": "torchvision.transforms.Normalize(mean=[123.675, 116.28, 103.53], "
                "std=[58.395, 57.12, 57.375])",
}

_TABLE = (
    Backbone("VGG16", "vgg16", "vgg16", "VGG16_Weights.IMAGENET1K_V1", "{m}.features", 512,
             "floor32", top_differs="vgg_top"),
    Backbone("VGG19", "vgg19", "vgg19", "VGG19_Weights.IMAGENET1K_V1", "{m}.features", 512,
             "floor32", top_differs="vgg_top"),
    *(Backbone(f"ResNet{n}", "resnet", f"resnet{n}", f"ResNet{n}_Weights.IMAGENET1K_V1",
               'children_until({m}, "avgpool")', 2048, differs="resnet") for n in (50, 101, 152)),
    Backbone("InceptionV3", "inception_v3", "inception_v3", "Inception_V3_Weights.IMAGENET1K_V1",
             'children_until({m}, "avgpool", skip=("AuxLogits",))', 2048, "inception",
             extra=", aux_logits=False, init_weights=True", top_weights=False,
             differs="inception", top_differs="inception_top"),
    Backbone("MobileNetV2", "mobilenet_v2", "mobilenet_v2", "MobileNet_V2_Weights.IMAGENET1K_V1",
             "{m}.features", 1280, differs="mobilenet_v2", top_differs="mobilenet_v2_top"),
    *(Backbone(f"EfficientNetB{k}", "efficientnet", f"efficientnet_b{k}",
               f"EfficientNet_B{k}_Weights.IMAGENET1K_V1", "{m}.features", c,
               rescales=True, differs="efficientnet")
      for k, c in enumerate((1280, 1280, 1408, 1536, 1792, 2048, 2304, 2560))),
    *(Backbone(f"DenseNet{n}", "densenet", f"densenet{n}", f"DenseNet{n}_Weights.IMAGENET1K_V1",
               "nn.Sequential({m}.features, nn.ReLU())", c, "densenet",
               differs="densenet")
      for n, c in ((121, 1024), (169, 1664), (201, 1920))),
    # no torchvision model: reported as unmapped
    Backbone("Xception", "xception"),
    Backbone("ResNet50V2", "resnet_v2"),
    Backbone("ResNet101V2", "resnet_v2"),
    Backbone("ResNet152V2", "resnet_v2"),
    Backbone("MobileNet", "mobilenet"),
    Backbone("InceptionResNetV2", "inception_resnet_v2"),
    Backbone("NASNetMobile", "nasnet"),
    Backbone("NASNetLarge", "nasnet"),
)

# canonical qualified name (keras.applications.VGG16, keras.applications.vgg16.VGG16) -> entry
BACKBONES: dict[str, Backbone] = {
    name: b for b in _TABLE for name in (f"keras.applications.{b.keras}",
                                         f"keras.applications.{b.module}.{b.keras}")}
BACKBONES.update({f"keras.applications.resnet50.{b.keras}": b for b in _TABLE
                  if b.keras == "ResNet50"})  # Keras 2's module

# keras.applications.<module>.preprocess_input -> runtime function (runtime/pretrained.py);
# the formula of Keras's imagenet_utils mode for that family
PREPROCESS: dict[str, str] = {
    "vgg16": "preprocess_caffe", "vgg19": "preprocess_caffe", "resnet": "preprocess_caffe",
    "resnet50": "preprocess_caffe", "imagenet_utils": "preprocess_caffe",
    "resnet_v2": "preprocess_tf", "inception_v3": "preprocess_tf", "xception": "preprocess_tf",
    "mobilenet": "preprocess_tf", "mobilenet_v2": "preprocess_tf",
    "inception_resnet_v2": "preprocess_tf", "nasnet": "preprocess_tf",
    "densenet": "preprocess_torch",
    "efficientnet": "preprocess_none", "efficientnet_v2": "preprocess_none",
    "convnext": "preprocess_none", "mobilenet_v3": "preprocess_none",
}
PREPROCESS_NAMES: dict[str, str] = {
    f"keras.applications.{module}.preprocess_input": fn for module, fn in PREPROCESS.items()}
DECODE_NAMES = frozenset(f"keras.applications.{module}.decode_predictions"
                         for module in PREPROCESS)


def spatial(kind: str, size: int | None) -> int | None:
    """The feature map's height (or width) for an input of ``size`` (None: unknown)."""
    if size is None:
        return None
    if kind == "floor32":  # five 2x2 max pools
        return size // 32
    if kind == "inception":  # Keras's 'valid' stem and reductions
        size = (size - 3) // 2 + 1 - 2  # conv 3x3/2, conv 3x3, conv 3x3 same
        size = (size - 3) // 2 + 1 - 2  # max pool 3x3/2, conv 1x1, conv 3x3
        for _ in range(3):  # max pool 3x3/2, mixed6a, mixed7a
            size = (size - 3) // 2 + 1
        return size
    if kind == "densenet":  # stem conv and pool round up, the transitions' pools down
        size = -(-size // 4)
        return size // 8
    return -(-size // 32)  # "ceil32": five stride-2 steps with 'same'-style padding


def _vgg_nodes(convs: tuple[int, ...]) -> dict[str, tuple[str, int | None, int]]:
    """Keras VGG layer name -> (node of torchvision's ``.features``, spatial halvings before
    it, channels). A Keras conv includes its ReLU: its node is the ReLU after the conv."""
    nodes: dict[str, tuple[str, int | None, int]] = {}
    k = 0
    for block, (n, channels) in enumerate(zip(convs, (64, 128, 256, 512, 512), strict=True), 1):
        for c in range(1, n + 1):
            nodes[f"block{block}_conv{c}"] = (str(k + 1), block - 1, channels)
            k += 2
        nodes[f"block{block}_pool"] = (str(k), block, channels)
        k += 1
    return nodes


# Keras application -> its layer names as torchvision feature-extraction nodes (where the
# correspondence is one to one; other families are reported)
def _resnet_nodes(blocks: tuple[int, ...]) -> dict[str, tuple[str, int | None, int]]:
    """Keras ResNet (v1) names -> nodes of torchvision's ResNet (v1.5). A block's output
    (``convN_blockM_out``) is the same point in both; inside a block only the ReLUs whose
    sizes agree: torchvision strides a downsampling block in its 3x3 convolution, Keras in
    its first 1x1, so ``_1_relu``/``_2_relu`` of such a block have no counterpart."""
    nodes: dict[str, tuple[str, int | None, int]] = {"conv1_relu": ("relu", 1, 64),
                                                     "pool1_pool": ("maxpool", 2, 64)}
    for stage, n in enumerate(blocks, 2):
        halvings, width = stage, 64 * 2 ** (stage - 2)
        for block in range(1, n + 1):
            node = f"layer{stage - 1}.{block - 1}"
            if block > 1 or stage == 2:
                nodes[f"conv{stage}_block{block}_1_relu"] = (f"{node}.relu", halvings, width)
                nodes[f"conv{stage}_block{block}_2_relu"] = (f"{node}.relu_1", halvings, width)
            nodes[f"conv{stage}_block{block}_out"] = (node, halvings, width * 4)
    return nodes


def _mobilenet_v2_nodes() -> dict[str, tuple[str, int | None, int]]:
    """Keras MobileNetV2 (alpha 1.0) names -> nodes of torchvision's ``features``: block k is
    ``features[k + 1]`` (Keras's ``expanded_conv`` is ``features[1]``)."""
    nodes: dict[str, tuple[str, int | None, int]] = {"Conv1_relu": ("0", 1, 32),
                                                     "expanded_conv_project_BN": ("1", 1, 16)}
    # (output channels, stride of the block's first unit, units)
    stages = ((24, 2, 2), (32, 2, 3), (64, 2, 4), (96, 1, 3), (160, 2, 3), (320, 1, 1))
    k, cin, halvings = 1, 16, 1
    for cout, stride, units in stages:
        for unit in range(units):
            step = stride == 2 and unit == 0
            node = str(k + 1)
            nodes[f"block_{k}_expand_relu"] = (f"{node}.conv.0", halvings, cin * 6)
            halvings += step
            nodes[f"block_{k}_depthwise_relu"] = (f"{node}.conv.1", halvings, cin * 6)
            nodes[f"block_{k}_project_BN"] = (f"{node}.conv.3", halvings, cout)
            if cin == cout and not step:
                nodes[f"block_{k}_add"] = (node, halvings, cout)
            k, cin = k + 1, cout
    nodes["out_relu"] = ("18", halvings, 1280)
    return nodes


_MIXED = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
          "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")
_MIXED_CHANNELS = (256, 288, 288, 768, 768, 768, 768, 768, 1280, 2048, 2048)

# Keras application -> its layer names as torchvision feature-extraction nodes: (node, spatial
# halvings before it (None: Keras's 'valid' steps, sizes not tracked), channels). Only points
# that are the same point of the architecture in both; other names are reported.
NODES: dict[str, dict[str, tuple[str, int | None, int]]] = {
    "VGG16": _vgg_nodes((2, 2, 3, 3, 3)), "VGG19": _vgg_nodes((2, 2, 4, 4, 4)),
    "ResNet50": _resnet_nodes((3, 4, 6, 3)), "ResNet101": _resnet_nodes((3, 4, 23, 3)),
    "ResNet152": _resnet_nodes((3, 8, 36, 3)),
    "InceptionV3": {f"mixed{k}": (node, None, c)
                    for k, (node, c) in enumerate(zip(_MIXED, _MIXED_CHANNELS, strict=True))},
    "MobileNetV2": _mobilenet_v2_nodes(),
}
FULL_TABLES = frozenset({"VGG16", "VGG19"})  # every layer of the Keras model is a node
# the module create_feature_extractor runs on (VGG's node names are those of ``.features``)
NODE_ROOT = {"VGG16": ".features", "VGG19": ".features", "MobileNetV2": ".features"}
