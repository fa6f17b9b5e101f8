"""DeepLab v3+ by construction: output strides and parameter count at the paper's
configuration, the layer-by-layer difference from segmentation_models_pytorch's
DeepLabV3Plus, the decoder's features on every backbone v3 runs on."""

from __future__ import annotations

import pytest
import segmentation_models_pytorch as smp
import torch
import torchvision
from hydra.errors import InstantiationException
from test_zoo import build_net

from seglab.models.heads.deeplab_v3plus import DeepLabV3PlusHead


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv(cin: int, cout: int, k: int = 1) -> int:
    return cin * cout * k * k


def bn(c: int) -> int:
    return 2 * c  # weight and bias


def sep(cin: int, cout: int) -> int:
    """The authors' split separable 3x3: depthwise + BN, pointwise + BN."""
    return cin * 9 + bn(cin) + conv(cin, cout) + bn(cout)


def paper_head(classes: int, separable: bool = False, c: int = 2048, low: int = 256) -> int:
    """The v3+ head counted from the paper's description (ASPP 256, decoder 48 + 2x[3x3,
    256]) and the authors' TensorFlow layers (BN after every conv, bias only on the
    classifier)."""
    atrous = sep(c, 256) if separable else conv(c, 256, 3) + bn(256)
    aspp = (conv(c, 256) + bn(256)) + 3 * atrous + (conv(c, 256) + bn(256))  # 1x1, 3 rates, pool
    aspp += conv(5 * 256, 256) + bn(256)  # projection
    decoder = conv(low, 48) + bn(48)
    if separable:
        decoder += sep(256 + 48, 256) + sep(256, 256)
    else:
        decoder += conv(256 + 48, 256, 3) + bn(256) + conv(256, 256, 3) + bn(256)
    return aspp + decoder + conv(256, classes) + classes


@pytest.mark.slow  # ResNet-101 on a 513x513 crop
def test_paper_configuration_strides_and_parameter_count():
    net = build_net("deeplab_v3plus").eval()  # ResNet-101, output stride 16, 21 classes
    trunk = torchvision.models.resnet101(weights=None)
    trunk_params = n_params(trunk) - n_params(trunk.fc)
    assert n_params(net.backbone) == trunk_params == 42_500_160
    assert n_params(net.head) == paper_head(21) == 16_844_149
    assert n_params(net) == 59_344_309
    with torch.no_grad():
        feats = net.backbone(torch.randn(1, 3, 513, 513))  # the paper's crop
        logits = net.head(feats, (513, 513))
        assert feats["out"].shape[-2:] == (33, 33)  # the ASPP at output stride 16
        assert feats["c2"].shape[-2:] == logits.shape[-2:] == (129, 129)  # decoder at 4
        assert net(torch.randn(1, 3, 97, 131)).shape == (1, 21, 97, 131)
    assert net.head.rates == [6, 12, 18]
    # evaluation at output stride 8 (the paper's Table 3): rates double, the same weights
    eval_net = build_net("deeplab_v3plus", "model.net.backbone.output_stride=8")
    assert eval_net.head.rates == [12, 24, 36]
    eval_net.load_state_dict(net.state_dict())  # strict: the same tensors


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.slow  # two ResNet-101s
def test_matches_smp_deeplabv3plus_up_to_the_layers_that_differ(separable):
    """segmentation_models_pytorch 0.6 (decoders/deeplabv3/decoder.py) builds the same
    encoder and ASPP; its head differs in three places, counted here layer by layer:
    a separable 3x3 + BN after the ASPP projection (not in the paper or the TF code),
    one separable 3x3 in the decoder where the paper has two 3x3 convs (Table 2), and
    separable convs without the BN between depthwise and pointwise (TF's
    split_separable_conv2d has one)."""
    ours = build_net("deeplab_v3plus", f"model.net.head.separable={str(separable).lower()}")
    theirs = smp.DeepLabV3Plus(
        "resnet101", encoder_weights=None, classes=21, encoder_output_stride=16,
        decoder_atrous_rates=(6, 12, 18), decoder_aspp_separable=separable,
    )  # fmt: skip
    assert n_params(ours.backbone) == n_params(theirs.encoder)
    smp_head = n_params(theirs.decoder) + n_params(theirs.segmentation_head)
    smp_sep = lambda cin, cout: cin * 9 + conv(cin, cout)  # noqa: E731 (depthwise + pointwise)
    extra_after_aspp = smp_sep(256, 256) + bn(256)
    smp_decoder_conv = smp_sep(304, 256) + bn(256)
    if separable:
        ours_decoder_convs = sep(304, 256) + sep(256, 256)
        aspp_bn_between = 3 * bn(2048)
    else:
        ours_decoder_convs = conv(304, 256, 3) + bn(256) + conv(256, 256, 3) + bn(256)
        aspp_bn_between = 0
    expected = ours_decoder_convs + aspp_bn_between - smp_decoder_conv - extra_after_aspp
    assert n_params(ours.head) - smp_head == expected
    assert n_params(ours.head) == paper_head(21, separable)
    assert expected == (13_408 if separable else 1_141_840)


def test_separable_convs_are_depthwise_then_pointwise_with_bn_after_each():
    head = build_net("deeplab_v3plus", "model.net.head.separable=true").head
    branch = head.aspp.convs[1]
    depthwise, pointwise = branch[0], branch[3]
    assert depthwise.groups == depthwise.in_channels == 2048 and depthwise.dilation == (6, 6)
    assert pointwise.kernel_size == (1, 1) and pointwise.out_channels == 256
    assert [type(m).__name__ for m in branch] == [
        "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"
    ]  # fmt: skip
    assert head.decoder[0][0].groups == 304


@pytest.mark.parametrize(
    "overrides",
    [
        ["model/backbone=resnet50"],
        ["model.net.backbone.style=msra"],
        ["model/backbone=vgg16_deeplab", "~model.net.backbone.multi_grid",
         "model.net.backbone.width=0.125", "model.net.head.aspp_channels=32",
         "model.net.head.low_level_channels=6", "model.net.head.decoder_channels=32"],
        ["model/backbone=mobilenet_v3_large", "model.net.backbone.multi_grid=null"],
    ],
    ids=["resnet50", "resnet101-msra", "vgg16-deeplab", "mobilenet-v3"],
)  # fmt: skip
def test_decoder_reads_the_stride_4_features_of_every_backbone(overrides):
    net = build_net("deeplab_v3plus", *overrides, num_classes=5).eval()
    assert net.backbone.geometry["c2"].stride == 4
    with torch.no_grad():
        feats = net.backbone(torch.randn(1, 3, 96, 128))
        h, w = feats["c2"].shape[-2:]
        assert net.head(feats).shape[-2:] == (h, w) and (h, w) in ((24, 32), (25, 33))  # msra: ceil
        assert net(torch.randn(1, 3, 97, 131)).shape == (1, 5, 97, 131)


def test_a_low_level_feature_not_finer_than_the_aspp_input_says_why():
    with pytest.raises(InstantiationException, match=r"low_level='c5'.*must be finer"):
        build_net("deeplab_v3plus", "model.net.head.low_level=c5")
    with pytest.raises(InstantiationException, match=r"reads feature 'c9'"):
        build_net("deeplab_v3plus", "model.net.head.low_level=c9")


def test_head_alone_on_named_features():
    from seglab.models.geometry import Geometry

    head = DeepLabV3PlusHead(
        {"out": 8, "c2": 4}, {"out": Geometry(8.0), "c2": Geometry(4.0)}, num_classes=3,
        aspp_channels=8, low_level_channels=2, decoder_channels=8,
    )  # fmt: skip
    out = head({"out": torch.randn(2, 8, 5, 6), "c2": torch.randn(2, 4, 10, 12)})
    assert out.shape == (2, 3, 10, 12) and head.rates == [12, 24, 36]
