"""keras.applications → torchvision.models (issue 9, pretrained backbones).

``preprocess_input`` formulas are exact: compared with Keras 3's own functions. Backbones are
not (torchvision's weights and some architectures differ): the generated text is checked for
weights="imagenet" (no download in tests), numbers only for weights=None, and every such
conversion must warn (the file is then "partial", never "converted").
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"

import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch

from agent.discover import Entry
from agent.equivalence import exec_source
from agent.pipeline import _file_result
from agent.rules.convert import convert_source
from agent.rules.models.applications_table import BACKBONES, PREPROCESS, spatial
from agent.rules.training.runtime import pretrained

pytestmark = pytest.mark.slow

K3 = "import keras\nfrom keras import layers\n\n"


def _torchvision() -> Any:
    """torchvision (the converted code's run-time dependency), or skip: it is not one of
    k2l-agent's own dependencies."""
    return pytest.importorskip("torchvision")


def _status(src: str, result: Any) -> str:
    return _file_result(Entry(Path("/x/m.py"), "m.py", "python"), result, src).status


# ------------------------------------------------------------------------- preprocess_input
@pytest.mark.parametrize("module", sorted(PREPROCESS))
def test_preprocess_input_matches_keras(module: str) -> None:
    fn = getattr(pretrained, PREPROCESS[module])
    keras_fn = getattr(keras.applications, module).preprocess_input
    rng = np.random.default_rng(0)
    images = (rng.random((2, 5, 4, 3)) * 255).astype("float32")
    expected = np.asarray(keras_fn(images.copy()))  # Keras writes into a float array
    np.testing.assert_allclose(fn(images), expected, rtol=1e-6, atol=1e-4)
    tensor = fn(torch.from_numpy(images))
    assert isinstance(tensor, torch.Tensor)
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_imagenet_utils_modes_match_keras(mode: str) -> None:
    images = np.arange(2 * 3 * 3 * 3, dtype="float32").reshape(2, 3, 3, 3) * 2.5
    expected = keras.applications.imagenet_utils.preprocess_input(images.copy(), mode=mode)
    ours = getattr(pretrained, f"preprocess_{mode}")(images)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-4)


def test_preprocess_of_integer_images_is_float_like_keras() -> None:
    images = np.full((1, 2, 2, 3), 200, dtype="uint8")
    out = pretrained.preprocess_tf(images)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, keras.applications.xception.preprocess_input(images))


def test_preprocess_input_in_a_graph_and_in_script_code() -> None:
    src = textwrap.dedent(K3 + """
from keras.applications import resnet50, xception


def build():
    inputs = keras.Input(shape=(8, 8, 3))
    x = resnet50.preprocess_input(inputs)
    x = layers.Conv2D(4, 3)(x)
    return keras.Model(inputs, x)


model = build()
images = np.zeros((1, 8, 8, 3))
ready = xception.preprocess_input(images)
""").replace("import keras\n", "import keras\nimport numpy as np\n", 1)
    code = convert_source(src).source
    assert "x = preprocess_caffe(inputs)" in code
    assert "ready = preprocess_tf(images)" in code
    assert "def preprocess_caffe(" in code and "def preprocess_tf(" in code
    assert "keras" not in code
    ns = exec_source(code, "k2l_converted")
    x = torch.rand(2, 8, 8, 3) * 255
    expected = keras.applications.resnet50.preprocess_input(x.numpy().copy())
    np.testing.assert_allclose(ns["preprocess_caffe"](x).numpy(), expected, atol=1e-4)


# ------------------------------------------------------------------------- backbones
BACKBONE_HEAD = K3 + """
SIDE = 96


def make_classifier():
    trunk = keras.applications.MobileNetV2(include_top=False, input_shape=(SIDE, SIDE, 3),
                                           weights="imagenet")
    trunk.trainable = False
    image = keras.Input(shape=(SIDE, SIDE, 3))
    scaled = keras.applications.mobilenet_v2.preprocess_input(image)
    pooled = layers.GlobalAveragePooling2D()(trunk(scaled))
    return keras.Model(image, layers.Dense(10, activation="softmax")(pooled))
"""


def test_a_frozen_pretrained_backbone_in_a_functional_model() -> None:
    result = convert_source(textwrap.dedent(BACKBONE_HEAD))
    code = result.source
    assert ("torchvision.models.mobilenet_v2(\n"
            "                weights=torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1\n"
            "            ).features") in code
    assert "self.trunk = FrozenModule(" in code and "class FrozenModule(nn.Module)" in code
    assert "trunk.trainable" not in code and "keras" not in code
    assert "import torchvision\n" in code
    forward = code[code.index("def forward"):]
    assert forward.index("preprocess_tf(image)") < forward.index("permute(0, 3, 1, 2)") \
        < forward.index("self.trunk(scaled)")
    assert "nn.Linear(1280, 10)" in code
    texts = " | ".join(w.message for w in result.warnings)
    assert "torchvision's ImageNet weights (MobileNet_V2_Weights.IMAGENET1K_V1), not Keras's" \
        in texts
    assert "pads stride-2 convolutions symmetrically" in texts
    assert "FrozenModule" in texts
    assert _status(BACKBONE_HEAD, result) == "partial"


def test_the_converted_head_runs_on_a_random_backbone() -> None:
    """weights=None: the class is built and run; the output shape is Keras's."""
    _torchvision()
    src = textwrap.dedent(BACKBONE_HEAD).replace('weights="imagenet"', "weights=None")
    code = convert_source(src).source
    assert "torchvision.models.mobilenet_v2(weights=None).features" in code
    module = exec_source(code, "k2l_converted")["make_classifier"]()
    keras_model = exec_source(src, "k2l_keras")["make_classifier"]()
    x = np.random.default_rng(1).random((2, 96, 96, 3)).astype("float32") * 255
    out = module(torch.from_numpy(x))
    assert tuple(out.shape) == tuple(keras_model(x).shape) == (2, 10)
    assert not any(p.requires_grad for p in module.trunk.parameters())
    module.train()
    assert not module.trunk.module.training  # frozen BatchNorm: inference mode, as Keras
    assert module.dense.weight.requires_grad


def test_vgg16_layer_layout_matches_keras() -> None:
    """weights=None: VGG16's conv/linear shapes are Keras's, layer for layer."""
    tv = _torchvision()
    keras_model = keras.applications.VGG16(weights=None)
    keras_shapes = []
    for layer in keras_model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            kernel = tuple(layer.kernel.shape)
            torch_order = (kernel[3], kernel[2], *kernel[:2]) if len(kernel) == 4 \
                else (kernel[1], kernel[0])
            keras_shapes.append((torch_order, tuple(layer.bias.shape)))
    module = tv.models.vgg16(weights=None)
    torch_shapes = [(tuple(m.weight.shape), tuple(m.bias.shape)) for m in module.modules()
                    if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert torch_shapes == keras_shapes


@pytest.mark.parametrize(("name", "size"), [("VGG19", 64), ("ResNet50", 70), ("DenseNet121", 64),
                                            ("InceptionV3", 99), ("EfficientNetB0", 64)])
def test_feature_map_shape_follows_keras(name: str, size: int) -> None:
    """include_top=False: the converted module's output has Keras's (H, W, C)."""
    _torchvision()
    src = textwrap.dedent(K3 + f"""
def build():
    base = keras.applications.{name}(include_top=False, weights=None)
    inputs = keras.Input(shape=({size}, {size}, 3))
    return keras.Model(inputs, base(inputs))
""")
    code = convert_source(src).source
    module = exec_source(code, "k2l_converted")["build"]().eval()
    keras_model = exec_source(src, "k2l_keras")["build"]()
    x = np.zeros((1, size, size, 3), dtype="float32")
    expected = tuple(keras_model(x).shape)
    assert tuple(module(torch.from_numpy(x)).shape) == expected
    entry = BACKBONES[f"keras.applications.{name}"]
    assert (spatial(entry.spatial, size), spatial(entry.spatial, size), entry.channels) == \
        expected[1:]


def test_pooling_and_a_backbone_inside_sequential() -> None:
    _torchvision()
    src = textwrap.dedent(K3 + """
base = keras.applications.ResNet50(include_top=False, weights=None, pooling="avg",
                                   input_shape=(64, 64, 3))
base.trainable = False
model = keras.Sequential([base, layers.Dense(3)])
""")
    result = convert_source(src)
    code = result.source
    assert ('nn.Sequential(\n                children_until(torchvision.models.resnet50(weights=None)'
            ', "avgpool"),\n                nn.AdaptiveAvgPool2d(1),\n') in code
    assert "nn.Linear(2048, 3)" in code and "base.trainable" not in code
    module = exec_source(code, "k2l_converted")["model"]
    assert tuple(module(torch.zeros(2, 64, 64, 3)).shape) == (2, 3)
    assert "ResNet is v1.5" in " ".join(w.message for w in result.warnings)


def test_input_tensor_builds_a_whole_model() -> None:
    _torchvision()
    src = textwrap.dedent(K3 + """
inputs = layers.Input(shape=(64, 64, 3))
model = keras.applications.VGG16(input_tensor=inputs, weights=None, classes=5)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
""")
    result = convert_source(src)
    code = result.source
    assert "torchvision.models.vgg16(weights=None, num_classes=5)" in code
    assert "F.softmax" in code and "keras" not in code
    module = exec_source(code, "k2l_converted")["model"].eval()
    keras_model = exec_source(src, "k2l_keras")["model"]
    x = np.zeros((1, 64, 64, 3), dtype="float32")
    assert tuple(module(torch.from_numpy(x)).shape) == tuple(keras_model(x).shape) == (1, 5)
    assert "Dropout(0.5) after fc1 and fc2" in " ".join(w.message for w in result.warnings)


def test_an_application_without_torchvision_model_is_one_unmapped_record() -> None:
    src = textwrap.dedent(K3 + """
def build():
    base = keras.applications.Xception(include_top=False, weights="imagenet")
    base.trainable = False
    inputs = keras.Input(shape=(71, 71, 3))
    x = base(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2)(x))
""")
    result = convert_source(src)
    records = [(u.keras_name, u.reason) for u in result.unmapped]
    assert len(records) == 1 and "Xception has no torchvision model" in records[0][1]
    assert "keras.applications.Xception(" in result.source  # kept as written, marked
    assert "TODO(k2l)" in result.source
    assert _status(src, result) != "converted"


def test_weights_from_a_file_are_not_guessed() -> None:
    src = textwrap.dedent(K3 + """
def build():
    base = keras.applications.VGG16(include_top=False, weights="vgg_notop.h5")
    inputs = keras.Input(shape=(32, 32, 3))
    return keras.Model(inputs, base(inputs))
""")
    result = convert_source(src)
    assert any("weights from a file" in u.reason for u in result.unmapped)
    assert "torchvision" not in result.source


def test_frozen_module_keeps_batchnorm_in_inference_mode() -> None:
    inner = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    frozen = pretrained.FrozenModule(inner)
    frozen.train()
    before = inner[1].running_mean.clone()
    frozen(torch.randn(4, 3, 2, 2) + 5)
    assert torch.equal(inner[1].running_mean, before)
    assert not any(p.requires_grad for p in frozen.parameters())


def test_decode_predictions_ranks_torchvision_categories() -> None:
    _torchvision()
    preds = np.zeros((1, 1000), dtype="float32")
    preds[0, 3], preds[0, 7] = 0.9, 0.5
    decoded = pretrained.decode_predictions(preds, top=2)
    assert [(k, score) for k, _, score in decoded[0]] == [("3", pytest.approx(0.9)),
                                                          ("7", pytest.approx(0.5))]
    assert decoded[0][0][1] == "tiger shark"


def test_a_local_alias_of_preprocess_input_and_an_unknown_input_size() -> None:
    """``prep = keras.applications.x.preprocess_input`` read in the graph: the family's
    formula, and the alias (used only there) goes with the model; no input size is needed."""
    src = textwrap.dedent(K3 + """
def build_encoder(size):
    encoder = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg")
    prep = keras.applications.inception_v3.preprocess_input
    inputs = keras.Input((size, size, 3))
    return keras.Model(inputs, encoder(prep(inputs)))
""")
    result = convert_source(src)
    code = result.source
    assert "preprocess_tf(inputs)" in code and "prep" not in code.replace("preprocess", "")
    assert result.unmapped == [] and "keras" not in code
    if importlib.util.find_spec("torchvision") is not None:
        module = exec_source(code, "k2l_converted")["build_encoder"](80).eval()
        keras_model = exec_source(src, "k2l_keras")["build_encoder"](80)
        x = np.zeros((1, 80, 80, 3), dtype="float32")
        assert tuple(module(torch.from_numpy(x)).shape) == tuple(keras_model(x).shape)


def test_a_head_on_the_backbones_own_input_and_output() -> None:
    """``Model(base.input, head(base.output))``: the backbone's Input (its input_shape) and
    the backbone called on it start the graph."""
    src = textwrap.dedent(K3 + """
base = keras.applications.ResNet50(include_top=False, input_shape=(64, 64, 3), weights=None)
base.trainable = False
features = layers.GlobalMaxPooling2D()(base.output)
encoder = keras.Model(base.input, layers.Dense(8)(features))
""")
    result = convert_source(src)
    code = result.source
    assert "self.example_input_array = torch.zeros(1, 64, 64, 3)" in code
    assert "self.base = FrozenModule(" in code
    assert "children_until(torchvision.models.resnet50(weights=None)" in code
    assert "nn.Linear(2048, 8)" in code
    assert result.unmapped == [] and "keras" not in code
    if importlib.util.find_spec("torchvision") is not None:
        module = exec_source(code, "k2l_converted")["encoder"]
        assert tuple(module(torch.zeros(2, 64, 64, 3)).shape) == (2, 8)


FEATURES = K3 + """
base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
extractor = keras.Model(inputs=base.inputs,
                        outputs=[base.get_layer("block2_pool").output,
                                 base.get_layer(name="block3_conv2").output])
"""


def test_get_layer_outputs_become_a_feature_extractor() -> None:
    result = convert_source(textwrap.dedent(FEATURES))
    code = result.source
    assert ("create_feature_extractor(\n"
            "            torchvision.models.vgg16(weights=None).features,\n"
            '            return_nodes={"9": "block2_pool", "13": "block3_conv2"},') in code
    assert "from torchvision.models.feature_extraction import create_feature_extractor" in code
    assert result.unmapped == [] and "keras" not in code
    texts = " | ".join(w.message for w in result.warnings)
    assert "create_feature_extractor" in texts and "random weights" in texts
    assert _status(FEATURES, result) == "partial"


def test_vgg_feature_nodes_compute_the_keras_layers_outputs() -> None:
    """The node table is exact: with Keras's weights copied in (the layouts match), the
    extractor returns the Keras layers' outputs."""
    _torchvision()
    src = textwrap.dedent(FEATURES)
    module = exec_source(convert_source(src).source, "k2l_converted")["extractor"].eval()
    keras_ns = exec_source(src, "k2l_keras")
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    keras_convs = [la for la in keras_ns["base"].layers if isinstance(la, keras.layers.Conv2D)]
    assert len(keras_convs) == 13 and len(convs) == 6  # the extractor keeps what it needs
    with torch.no_grad():
        for conv, layer in zip(convs, keras_convs[:6], strict=True):
            kernel, bias = (np.asarray(w) for w in layer.get_weights())
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))
            conv.bias.copy_(torch.from_numpy(bias))
    x = np.random.default_rng(2).random((2, 32, 32, 3)).astype("float32")
    ours = module(torch.from_numpy(x))
    theirs = keras_ns["extractor"](x)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.detach().numpy(), np.asarray(b.detach().cpu()),
                                   rtol=1e-4, atol=1e-4)


def test_get_layer_of_a_family_without_node_table_is_reported() -> None:
    src = textwrap.dedent(K3 + """
base = keras.applications.EfficientNetB0(weights=None, include_top=False)
probe = keras.Model(base.inputs, base.get_layer("block6a_expand_activation").output)
""")
    result = convert_source(src)
    assert any("no table maps its layer names" in u.reason for u in result.unmapped)
    assert _status(src, result) != "converted"


def test_input_tensor_backbone_read_by_get_layer_stays_keras_unless_mapped() -> None:
    """``X(input_tensor=t)`` whose layers are read is no whole model: VGG's nodes convert on
    ``t``; ResNet's are reported and its model stays Keras (never a class used as Keras)."""
    vgg = textwrap.dedent(K3 + """
def build(size):
    inputs = keras.Input(shape=(size, size, 3))
    vgg = keras.applications.VGG19(weights=None, include_top=False, input_tensor=inputs)
    x = layers.Conv2D(4, 1)(vgg.get_layer("block4_conv1").output)
    return keras.Model(inputs=inputs, outputs=x)
""")
    code = convert_source(vgg).source
    assert 'return_nodes={"20": "block4_conv1"}' in code  # the ReLU after conv 19
    assert "keras" not in code
    assert "block4_conv1 = self.vgg_features(inputs)" in code
    other = vgg.replace("VGG19", "EfficientNetB0").replace("block4_conv1",
                                                            "block6a_expand_activation")
    result = convert_source(other)
    assert "keras.applications.EfficientNetB0(" in result.source
    assert "class " not in result.source
    assert any("no table maps its layer names" in u.reason for u in result.unmapped)


def _extractor(family: str, names: list[str], weights: str = "None") -> Any:
    src = textwrap.dedent(K3 + f"""
base = keras.applications.{family}(weights={weights}, include_top=False)
probe = keras.Model(base.inputs, [base.get_layer(n).output for n in {names!r}])
""")
    return convert_source(src)


def test_resnet_block_outputs_and_inner_relus_map_to_torchvision_nodes() -> None:
    result = _extractor("ResNet50", ["conv4_block6_2_relu", "conv5_block3_out",
                                     "conv2_block1_1_relu"])
    code = result.source
    assert result.unmapped == [] and "keras" not in code
    assert ('"layer3.5.relu_1": "conv4_block6_2_relu", "layer4.2": "conv5_block3_out", '
            '"layer1.0.relu": "conv2_block1_1_relu"') in " ".join(code.split())
    assert "torchvision.models.resnet50(weights=None)," in code  # the whole model: no .features
    # one pass of the extractor gives every node, in return_nodes's order
    assert ("(conv4_block6_2_relu, conv5_block3_out, conv2_block1_1_relu) = "
            "self.base_features(base_input).values()") in " ".join(
                code.split()).replace("( ", "(").replace(", )", ")")
    texts = " | ".join(w.message for w in result.warnings)
    assert "v1.5" in texts  # what differs from Keras's architecture is said


def test_resnet_relu_inside_a_downsampling_block_has_no_counterpart() -> None:
    """torchvision strides the 3x3 convolution, Keras the first 1x1: the sizes differ."""
    result = _extractor("ResNet50", ["conv3_block1_2_relu"])
    assert any("no torchvision node computes that point" in u.reason for u in result.unmapped)
    assert "create_feature_extractor" not in result.source


def test_inception_mixed_blocks_and_mobilenet_v2_points() -> None:
    inception = _extractor("InceptionV3", ["mixed4", "mixed10"], '"imagenet"')
    assert inception.unmapped == []
    assert 'return_nodes={"Mixed_6b": "mixed4", "Mixed_7c": "mixed10"}' in inception.source
    assert "Inception_V3_Weights.IMAGENET1K_V1" in inception.source
    mobile = _extractor("MobileNetV2", ["block_13_expand_relu", "block_16_project_BN",
                                        "out_relu"])
    assert mobile.unmapped == []
    assert ('"14.conv.0": "block_13_expand_relu", "17.conv.3": "block_16_project_BN", '
            '"18": "out_relu"') in " ".join(mobile.source.split())
    assert "torchvision.models.mobilenet_v2(weights=None).features" in mobile.source


def test_every_layer_of_vgg_as_a_dict_of_outputs() -> None:
    src = textwrap.dedent(K3 + """
base = keras.applications.VGG19(weights=None, include_top=False)
outputs_dict = dict([(layer.name, layer.output) for layer in base.layers])
extractor = keras.Model(inputs=base.inputs, outputs=outputs_dict)
""")
    result = convert_source(src)
    code = result.source
    assert result.unmapped == [] and "keras" not in code
    assert "-> dict[str, torch.Tensor]:" in code
    assert code.count("_conv") >= 2 * 16 and '"36": "block5_pool"' in code
    assert "outputs_dict" not in code  # the dict's statement belongs to the class
    if importlib.util.find_spec("torchvision") is not None:
        module = exec_source(code, "k2l_converted")["extractor"].eval()
        keras_model = exec_source(src, "k2l_keras")["extractor"]
        x = np.zeros((1, 32, 32, 3), "float32")
        ours, theirs = module(torch.from_numpy(x)), keras_model(x)
        assert list(ours) == list(theirs)
        assert all(tuple(ours[k].shape) == tuple(theirs[k].shape) for k in theirs)


PREDICT_ONLY = K3 + """
import numpy as np

model = keras.applications.ResNet50(weights="imagenet")
preds = model.predict(np.zeros((2, 224, 224, 3), "float32"))
"""


def test_application_used_only_to_predict_becomes_a_converted_model() -> None:
    src = textwrap.dedent(PREDICT_ONLY)
    result = convert_source(src)
    code = result.source
    assert result.unmapped == [] and "keras" not in code
    assert "(pl.LightningModule):" in code and "def predict_step(" in code
    assert "self.example_input_array = torch.zeros(1, 224, 224, 3)" in code  # Keras's size
    assert "F.softmax(self.model(model_input), dim=-1)" in code  # classifier_activation
    texts = " | ".join(w.message for w in result.warnings)
    assert "not Keras's: outputs differ" in texts and "v1.5" in texts
    assert _status(PREDICT_ONLY, result) == "partial"  # never called equivalent


def test_application_read_by_other_code_stays_keras() -> None:
    """A use the converted class cannot serve (its Keras layers changed, read in a
    function) keeps the Keras model."""
    for extra in ("model.layers[-1].activation = None\n",
                  "def heatmap(img):\n    return model.get_layer(NAME).output\n"):
        src = textwrap.dedent(PREDICT_ONLY) + extra
        code = convert_source(src).source
        assert "keras.applications.ResNet50(" in code and "class " not in code
