"""The model zoo: every config builds, keeps the input size, trains a step; parity with
torchvision; the papers' parameter counts; weights loading and staged training."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
import torchvision
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import open_dict
from torch.nn import functional as F

from seglab.errors import SeglabError
from seglab.models import VGG16, ResNet, Segmenter
from seglab.models.heads import DeepLabV3Head, FCNHead
from seglab.models.weights import from_torchvision, init_from_checkpoint
from seglab.run.config import compose_config, config_dir

MODELS = sorted(p.stem for p in (Path(config_dir()) / "model").glob("*.yaml") if p.stem[0] != "_")
VOC = [f"class{i}" for i in range(21)]


def compose_cfg(*overrides: str):
    return compose_config("train", overrides)


def build_net(model: str, *overrides: str, num_classes: int = 21):
    cfg = compose_cfg(f"model={model}", *overrides)
    with open_dict(cfg):
        cfg.data.num_classes = num_classes
        cfg.data.class_names = VOC[:num_classes]
    return instantiate(cfg.model.net)


def test_all_paper_models_have_configs():
    expected = {"fcn32s", "fcn16s", "fcn8s", "deeplab_v1", "deeplab_v2", "deeplab_v3"}
    expected |= {"deeplab_v3plus"}
    expected |= {"unet", "reseg"}
    assert expected <= set(MODELS)


# any head on any backbone: U-Net's decoder on ResNet-50's c2..c5, ReSeg on VGG16's fc7
# (both at sizes that keep the suite short)
COMBINATIONS = {
    "resnet50+unet": [
        "model=fcn8s",
        "model/backbone=resnet50",
        "model.net.backbone.output_stride=32",
        "model/head=unet",
        "model.net.head.decoder_channels=[256,128,64]",
    ],
    "vgg16+reseg": ["model=fcn32s_tiny", "model/head=reseg"],
}


@pytest.mark.parametrize("model", MODELS + sorted(COMBINATIONS))
@pytest.mark.slow
def test_model_config_keeps_size_and_trains_a_step(model, tmp_path):
    torch.manual_seed(0)
    model, *extra = COMBINATIONS.get(model, [f"model={model}"])
    model = model.removeprefix("model=")
    net = build_net(model, *extra, num_classes=5).eval()
    with torch.no_grad():
        for size in [(97, 131), (360, 480)]:  # odd (ceil/floor paths) and CamVid's
            out = net(torch.randn(1, 3, *size))
            assert out.shape == (1, 5, *size), (model, size)

    # one Lightning training step (backward included) on odd-sized images
    cfg = compose_cfg(
        f"model={model}",
        *extra,
        "data.image_size=[97,131]",
        "data.lengths={train:2,val:2,test:2}",
        "data.batch_size=2",
        "data.eval_batch_size=2",
    )
    module = instantiate(cfg.model)
    before = {k: v.clone() for k, v in module.net.state_dict().items()}
    trainer = L.Trainer(
        fast_dev_run=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=instantiate(cfg.data))
    changed = [k for k, v in module.net.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, f"{model}: no weight changed after a training step"
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


# -- parity with torchvision ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("deeplabv3_resnet50_torchvision", "deeplabv3_resnet50"),
        ("fcn_resnet50_torchvision", "fcn_resnet50"),
    ],
)
def test_torchvision_state_dict_gives_identical_outputs(ours, theirs):
    torch.manual_seed(0)
    reference = getattr(torchvision.models.segmentation, theirs)(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True
    ).eval()
    net = build_net(ours).eval()
    missing, unexpected = net.load_state_dict(from_torchvision(reference.state_dict()), strict=True)
    assert not missing and not unexpected
    net.train()  # training mode also runs the auxiliary head: compare both outputs
    reference.train()
    x = torch.randn(2, 3, 97, 131)
    torch.manual_seed(1)
    theirs_train = reference(x)
    torch.manual_seed(1)
    ours_train = net(x)
    net.eval()
    reference.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), reference(x)["out"], atol=1e-5)
    assert torch.allclose(ours_train["aux"], theirs_train["aux"], atol=1e-5)


def test_torchvision_mobilenet_deeplab_parity():
    torch.manual_seed(0)
    reference = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=21
    ).eval()
    net = build_net("deeplabv3_mobilenet_v3_large").eval()
    net.load_state_dict(from_torchvision(reference.state_dict()), strict=True)
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        assert torch.allclose(net(x), reference(x)["out"], atol=1e-5)


# -- the papers' sizes --------------------------------------------------------------------------
def n_params(net) -> int:
    return sum(p.numel() for p in net.parameters())


def test_fcn8s_parameter_count_matches_caffe_voc_fcn8s():
    assert n_params(build_net("fcn8s")) == pytest.approx(134.5e6, abs=0.05e6)


def test_deeplab_largefov_parameter_count():
    assert n_params(build_net("deeplab_v1")) == pytest.approx(20.5e6, abs=0.05e6)


def test_caffe_crop_offsets():
    net = Segmenter(VGG16(width=0.125), partial(FCNHead, num_classes=3, skips=["c4", "c3"]))
    geo = net.backbone.geometry
    assert geo["out"].offset == 12.5 and geo["c4"].offset == -91.5 and geo["c3"].offset == -95.5
    # 19 (32s), 5 / 27 (16s), 9 / 31 (8s) follow from these; a size check covers them
    assert net(torch.randn(1, 3, 33, 47)).shape[-2:] == (33, 47)


def test_deeplab_v3_rates_double_at_output_stride_8():
    for os_, rates in ((16, [6, 12, 18]), (8, [12, 24, 36])):
        net = build_net("deeplab_v3", f"model.net.backbone.output_stride={os_}")
        assert net.head.rates == rates


def test_multi_grid_sets_last_stage_rates():
    backbone = ResNet(depth=50, output_stride=16, multi_grid=[1, 2, 4])
    assert [b.conv2.dilation[0] for b in backbone.layer4] == [2, 4, 8]


# -- composition and its errors ---------------------------------------------------------------
def test_any_head_on_a_compatible_backbone():
    net = build_net("fcn8s", "model/backbone=resnet50", "model.net.backbone.output_stride=32")
    assert net(torch.randn(1, 3, 97, 131)).shape == (1, 21, 97, 131)
    net = build_net(
        "deeplab_v3", "model/backbone=mobilenet_v3_large", "model.net.backbone.multi_grid=null"
    )
    assert net.eval()(torch.randn(1, 3, 65, 81)).shape == (1, 21, 65, 81)


def test_incompatible_head_and_backbone_say_why():
    with pytest.raises(InstantiationException, match=r"output_stride=32 with FCN-16s/8s"):
        build_net("fcn8s", "model/backbone=resnet50")
    with pytest.raises(InstantiationException, match=r"multi_grid applies to ResNet"):
        build_net("deeplab_v3", "model/backbone=mobilenet_v3_large")
    with pytest.raises(InstantiationException, match=r"reads feature 'c9'"):
        build_net("fcn8s", "model.net.head.skips=[c9]")


# -- weights ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_vgg16_imagenet_file_loads_with_fc_layers_as_convs(tmp_path):
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None)
    torch.save(vgg.state_dict(), tmp_path / "vgg16.pth")
    backbone = VGG16(pretrained=str(tmp_path / "vgg16.pth"))
    assert torch.equal(backbone.stages[0][0].weight, vgg.features[0].weight)
    assert torch.equal(backbone.stages[4][4].weight, vgg.features[28].weight)
    assert torch.equal(backbone.fc[0].weight.flatten(1), vgg.classifier[0].weight)
    assert torch.equal(backbone.fc[3].weight.flatten(1), vgg.classifier[3].weight)


def test_imagenet_weights_come_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(0)
    resnet = torchvision.models.resnet50(weights=None)
    url = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(resnet.state_dict(), cache / Path(url).name)
    backbone = ResNet(depth=50, pretrained="imagenet")
    assert torch.equal(backbone.layer4[2].conv3.weight, resnet.layer4[2].conv3.weight)


def test_imagenet_weights_offline_say_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(SeglabError, match=r"place it at .*hub/checkpoints/resnet50-"):
        ResNet(depth=50, pretrained="imagenet")


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(SeglabError, match=r"weights file .*nope.pth does not exist"):
        ResNet(depth=50, pretrained=str(tmp_path / "nope.pth"))


def test_staged_fcn_init_reports_loaded_and_new(tmp_path):
    small = ["model.net.backbone.width=0.125"]
    fcn32 = build_net("fcn32s", *small, num_classes=5)
    torch.save(
        {"state_dict": {f"net.{k}": v for k, v in fcn32.state_dict().items()}},
        tmp_path / "fcn32s.ckpt",
    )
    fcn16 = build_net("fcn16s", *small, num_classes=5)
    report = init_from_checkpoint(fcn16, str(tmp_path / "fcn32s.ckpt"))
    assert "head.score.weight" in report.loaded and "backbone.fc.0.weight" in report.loaded
    assert "head.score_skips.c4.weight" in report.new
    assert "head.upscore.weight" in report.mismatched  # 64x64 kernel (32s) vs 32x32 (16s)
    assert torch.equal(fcn16.head.score.weight, fcn32.head.score.weight)


def test_msc_inputs_fuse_by_max_at_the_full_scales_logits():
    """DeepLab's MSc: the 0.5 scale's logits interpolated to the 1.0 scale's (output
    stride) size, pixel-wise max, then upsampled to the input (kazuto1011 msc.py)."""
    torch.manual_seed(0)
    head = partial(DeepLabV3Head, num_classes=3)
    net = Segmenter(ResNet(depth=50, output_stride=16), head, msc_scales=[0.5, 1.0]).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        fused = net(x)
        full = net.head(net.backbone(x))  # 4x6
        half = net.head(net.backbone(F.interpolate(x, size=(32, 48), mode="bilinear")))
        expected = torch.maximum(full, F.interpolate(half, size=full.shape[-2:], mode="bilinear"))
        expected = F.interpolate(expected, size=(64, 96), mode="bilinear")
        parts = net(x, keep_stride=True)
    assert torch.allclose(fused, expected, atol=1e-6)
    assert [tuple(p.shape[-2:]) for p in parts["scales"]] == [(2, 3), (4, 6)]
    assert parts["out"].shape[-2:] == (4, 6) and parts["aux"] is None


def test_test_time_flip_and_scales_average_probabilities():
    cfg = compose_cfg("model=fcn32s_tiny", "model.tta_flip=true", "model.tta_scales=[0.5,1.0]")
    module = instantiate(cfg.model).eval()
    torch.nn.init.normal_(module.net.head.score.weight)  # non-zero scores
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        out = module.predict_logits(x)
        views = []
        for xs in (torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear"), x):
            for flip in (False, True):
                y = module(xs.flip(-1) if flip else xs)
                y = y.flip(-1) if flip else y
                y = torch.nn.functional.interpolate(y, size=(64, 80), mode="bilinear")
                views.append(y.softmax(1))
    assert out.shape == (1, 5, 64, 80)
    assert torch.allclose(out.exp(), torch.stack(views).mean(0), atol=1e-5)


@pytest.mark.parametrize("experiment", ["ablation_all", "ablation_all_cpu", "ablation_fcn"])
@pytest.mark.slow
def test_every_ablation_variant_composes_and_runs(experiment):
    """Each job of the ablation experiments builds its model, at the experiment's sizes."""
    import re

    text = (Path(config_dir()) / "experiment" / f"{experiment}.yaml").read_text()
    variants = re.search(r"\+ablation: (.+)", text).group(1).split(",")
    for variant in variants:
        cfg = compose_cfg(
            f"experiment={experiment}",
            f"+ablation={variant}",
            "data.root=/x",
            "model.net.backbone.pretrained=null",  # ImageNet weights: not offline
        )
        if "staged" in variant:
            raw = cfg.model._get_node("init_from")._value()  # ${hydra:sweep.dir}/<job>/…
            assert raw.endswith("/checkpoints/last.ckpt")
        net = instantiate(cfg.model.net).eval()
        with torch.no_grad():
            out = net(torch.zeros(1, 3, 97, 129))
        out = out["out"] if isinstance(out, dict) else out
        assert out.shape == (1, 11, 97, 129), variant
        head = cfg.model.net.head._target_.rsplit(".", 1)[-1]
        params = sum(p.numel() for p in net.parameters())
        print(f"{experiment} +ablation={variant}: {head}, {params:,} params")
