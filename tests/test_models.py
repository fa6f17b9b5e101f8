"""FCN-32s geometry, initialisation and size against VGG16."""

from functools import partial

import pytest
import torch
import torchvision
from torch.nn import functional as F

from seglab.models import VGG16, Segmenter
from seglab.models.geometry import Geometry
from seglab.models.heads import FCNHead
from seglab.models.heads.fcn import bilinear_kernel


def fcn32s(num_classes=5, **backbone):
    return Segmenter(VGG16(**backbone), partial(FCNHead, num_classes=num_classes))


def test_caffe_crop_offset_is_19():
    # voc-fcn32s's crop layer uses offset 19 for the pad-100 VGG16
    model = fcn32s(width=0.125)
    assert model.backbone.geometry["out"].upsampled(64, 32) == Geometry(1.0, -19.0)


@pytest.mark.parametrize("size", [(1, 1), (97, 131), (128, 128), (321, 481)])
@pytest.mark.parametrize("compact", [False, True])
def test_output_matches_input_size(size, compact):
    kw = {"conv1_padding": 1, "fc6_kernel": 3, "fc6_padding": 1} if compact else {}
    model = fcn32s(width=0.0625, **kw).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 5, *size)


def test_backward_and_frozen_upsampling():
    model = fcn32s(width=0.0625, batch_norm=True)
    model(torch.randn(2, 3, 64, 80)).logsumexp(1).mean().backward()
    assert not model.head.upscore.weight.requires_grad
    assert model.head.score.weight.grad is not None


def test_score_layer_starts_at_zero():
    model = fcn32s(width=0.0625).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 40, 50)).abs().max() == 0


def test_bilinear_kernel_interpolates():
    kernel = bilinear_kernel(1, 4)  # stride-2 upsampling
    x = torch.arange(16.0).view(1, 1, 4, 4)
    up = F.conv_transpose2d(x, kernel, stride=2, padding=1)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    # identical away from the border (the transposed conv zero-pads)
    assert torch.allclose(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)


def test_parameter_count_matches_vgg16_as_convolutions():
    """fc6/fc7 as convs hold exactly VGG16's fully connected weights (Long et al.)."""
    vgg = torchvision.models.vgg16(weights=None)
    vgg_params = sum(p.numel() for p in vgg.parameters()) - sum(
        p.numel() for p in vgg.classifier[6].parameters()
    )
    model = fcn32s(num_classes=21)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == vgg_params + 4096 * 21 + 21  # + the score layer
    assert trainable == 134_346_581


def test_unknown_feature_is_named():
    with pytest.raises(ValueError, match="reads feature 'pool9'"):
        Segmenter(VGG16(width=0.0625), partial(FCNHead, num_classes=3, feature="pool9"))
