"""The papers' training details, each checked against its reference: ResNet dilation and
measured geometry, lr / weight-decay multipliers, frozen BN, LargeFOV's fc decimation,
label shrink, MSc losses, the FCN solver and the iteration-counted paper experiments."""

from __future__ import annotations

import math
from functools import partial

import lightning as L
import pytest
import torch
import torchvision
from hydra.utils import instantiate
from test_zoo import compose_cfg
from torch.nn import functional as F

from seglab.models import VGG16, MobileNetV3Large, ResNet, Segmenter
from seglab.models.heads import DeepLabV2Head
from seglab.training.losses import SegmentationCrossEntropy, shrink_labels

SYNTH = [
    "data.image_size=[65,81]",
    "data.lengths={train:4,val:2,test:2}",
    "data.batch_size=2",
    "data.eval_batch_size=2",
]


# -- 1. ResNet output stride -----------------------------------------------------------------
def torchvision_features(net: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    feats = []
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        x = layer(x)
        feats.append(x)
    return feats


@pytest.mark.parametrize("depth", [50, 101])
@pytest.mark.parametrize(
    ("output_stride", "flags"), [(16, [False, False, True]), (8, [False, True, True])]
)
def test_resnet_output_stride_equals_torchvision_dilation(depth, output_stride, flags):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, f"resnet{depth}")(
        weights=None, replace_stride_with_dilation=flags
    ).eval()
    ours = ResNet(depth=depth, output_stride=output_stride).eval()
    missing, unexpected = ours.load_state_dict(reference.state_dict(), strict=False)
    assert not missing and set(unexpected) == {"fc.weight", "fc.bias"}
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        theirs, mine = torchvision_features(reference, x), ours(x)
    for name, feature in zip(("c2", "c3", "c4", "c5"), theirs):
        assert mine[name].shape == feature.shape, name
        assert torch.allclose(mine[name], feature, atol=1e-5), name


def test_multi_grid_rates_at_both_output_strides():
    for output_stride, rates, layer3 in ((16, [2, 4, 8], {1}), (8, [4, 8, 16], {1, 2})):
        backbone = ResNet(depth=50, output_stride=output_stride, multi_grid=[1, 2, 4])
        assert [b.conv2.dilation[0] for b in backbone.layer4] == rates
        assert [b.conv2.padding[0] for b in backbone.layer4] == rates
        assert {b.conv2.dilation[0] for b in backbone.layer3} == layer3


def measured_strides(backbone: torch.nn.Module, h: int = 97, w: int = 131) -> dict[str, float]:
    """Each feature's stride from how its size grows with the input: 64 more input pixels
    (a multiple of every stride) add 64 / stride feature pixels, whatever the padding."""
    backbone.eval()
    with torch.no_grad():
        small = backbone(torch.zeros(1, 3, h, w))
        large = backbone(torch.zeros(1, 3, h + 64, w + 64))
    out = {}
    for name, f in small.items():
        dh = large[name].shape[-2] - f.shape[-2]
        dw = large[name].shape[-1] - f.shape[-1]
        assert dh == dw, name
        out[name] = 64 / dh
    return out


BACKBONES = {
    "vgg16_fcn": lambda: VGG16(width=0.125),
    "vgg16_deeplab_os8": lambda: VGG16(
        width=0.125, pooling="deeplab", output_stride=8, fc_channels=0
    ),
    "vgg16_deeplab_os16": lambda: VGG16(
        width=0.125, pooling="deeplab", output_stride=16, fc_channels=0
    ),
    "vgg16_deeplab_os32": lambda: VGG16(
        width=0.125, pooling="deeplab", output_stride=32, fc_channels=0
    ),
    "resnet50_os8": lambda: ResNet(depth=50, output_stride=8),
    "resnet50_os16": lambda: ResNet(depth=50, output_stride=16, multi_grid=[1, 2, 4]),
    "resnet50_os32": lambda: ResNet(depth=50, output_stride=32),
    "mobilenet_os16": lambda: MobileNetV3Large(output_stride=16),
    "mobilenet_os32": lambda: MobileNetV3Large(output_stride=32),
}


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_reported_geometry_is_the_measured_one(name):
    backbone = BACKBONES[name]()
    measured = measured_strides(backbone)
    reported = {k: g.stride for k, g in backbone.geometry.items()}
    assert reported == measured, name
    if name.startswith("resnet"):  # centred padding everywhere: maps start at offset 0
        h = 97
        with torch.no_grad():
            feats = backbone(torch.zeros(1, 3, h, h))
        for k, g in backbone.geometry.items():
            assert g.offset == 0 and feats[k].shape[-1] == math.ceil(h / g.stride), k


# -- 2. parameter groups -----------------------------------------------------------------------
def built_optimizer(model: str, *overrides: str):
    cfg = compose_cfg(f"model={model}", *overrides)
    module = instantiate(cfg.model)
    optimizer = module.configure_optimizers()
    if isinstance(optimizer, dict):
        optimizer = optimizer["optimizer"]
    where = {}
    for group in optimizer.param_groups:
        for name in group["names"]:
            where[name] = (group["lr"], group["weight_decay"])
    return cfg, where


def test_fcn_biases_take_twice_the_lr_and_no_decay():
    cfg, where = built_optimizer("fcn8s")
    lr, wd = cfg.model.optimizer.lr, cfg.model.optimizer.weight_decay
    assert (lr, wd) == (1e-14, 5e-4) and cfg.model.optimizer.momentum == 0.99
    assert where["head.score.weight"] == (lr, wd)
    assert where["head.score.bias"] == (2 * lr, 0.0)
    assert where["head.score_skips.c3.bias"] == (2 * lr, 0.0)
    assert where["backbone.stages.0.0.weight"] == (lr, wd)
    assert where["backbone.fc.0.bias"] == (2 * lr, 0.0)
    assert "head.upscore.weight" not in where  # frozen bilinear upsampling (lr_mult 0)
    assert cfg.model.loss.normalization == "batch"


def test_largefov_fc8_takes_10x_and_its_bias_20x():
    cfg, where = built_optimizer("deeplab_v1")
    lr, wd = 1e-3, 5e-4
    assert where["head.fc.6.weight"] == (10 * lr, wd)
    assert where["head.fc.6.bias"] == (20 * lr, 0.0)
    assert where["head.fc.0.weight"] == (lr, wd)
    assert where["head.fc.0.bias"] == (2 * lr, 0.0)
    assert where["backbone.stages.4.0.bias"] == (2 * lr, 0.0)


def test_deeplab_v2_aspp_10x_20x_and_frozen_bn_out_of_the_optimizer():
    cfg, where = built_optimizer("deeplab_v2", "+model.scheduler.total_iters=100")
    lr, wd = 2.5e-4, 5e-4
    for i in range(4):
        assert where[f"head.branches.{i}.weight"] == (10 * lr, wd)
        assert where[f"head.branches.{i}.bias"] == (20 * lr, 0.0)
    assert where["backbone.layer4.2.conv3.weight"] == (lr, wd)
    assert where["backbone.conv1.weight"] == (lr, wd)
    assert not [n for n in where if ".bn" in n or "downsample.1" in n]


def test_deeplab_v3_trains_bn_and_decays_conv_weights_only():
    cfg, where = built_optimizer("deeplab_v3", "+model.scheduler.total_iters=100")
    assert set(where.values()) == {(0.007, 1e-4), (0.007, 0.0)}  # one lr, decay or none
    assert where["backbone.bn1.weight"] == where["head.0.convs.0.1.weight"] == (0.007, 0.0)
    assert where["backbone.conv1.weight"] == where["head.1.weight"] == (0.007, 1e-4)
    assert where["head.1.bias"] == (0.007, 0.0)


def test_schedules_keep_the_ratio_between_groups():
    cfg = compose_cfg(
        "model=deeplab_v1",
        "model.net.backbone.width=0.125",
        "model.net.head.hidden_channels=16",
        "model.scheduler.step_size=3",
    )
    module = instantiate(cfg.model)
    out = module.configure_optimizers()
    optimizer, scheduler = out["optimizer"], out["lr_scheduler"]["scheduler"]
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    for group in optimizer.param_groups:  # x0.1 twice, every group alike
        assert group["lr"] == pytest.approx(1e-3 * group["lr_mult"] * 0.01)


def test_param_group_rule_errors_name_the_key():
    with pytest.raises(Exception, match=r"model.param_groups\[0\] has unknown keys \['lr'\]"):
        built_optimizer("fcn8s", "model.param_groups=[{params: '*', lr: 2}]")
    with pytest.raises(Exception, match=r"model.param_groups\[0\].kind must be one of"):
        built_optimizer("fcn8s", "model.param_groups=[{params: '*', kind: biases}]")


# -- 3. frozen BN --------------------------------------------------------------------------------
def test_frozen_bn_keeps_running_stats_and_weights_through_training():
    cfg = compose_cfg(
        "model=deeplab_v2",
        "model/backbone=resnet50",
        "model.net.msc_scales=[1.0]",
        "+model.scheduler.total_iters=10",
        *SYNTH,
    )
    assert cfg.model.net.backbone.freeze_bn is True
    module = instantiate(cfg.model)
    bn = {
        k: v.clone()
        for k, v in module.net.backbone.state_dict().items()
        if ".bn" in k or k.startswith("bn1")
    }
    conv = module.net.backbone.layer1[0].conv1.weight.clone()
    trainer = L.Trainer(
        max_steps=2,
        limit_val_batches=0,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        use_distributed_sampler=False,
    )
    trainer.fit(module, datamodule=instantiate(cfg.data))
    assert trainer.global_step == 2
    after = module.net.backbone.state_dict()
    assert bn and all(torch.equal(after[k], v) for k, v in bn.items())  # stats and affine
    assert not torch.equal(module.net.backbone.layer1[0].conv1.weight, conv)
    module.train()
    assert not module.net.backbone.bn1.training and module.net.head.training


# -- 4. LargeFOV fc6/fc7 decimation ------------------------------------------------------------
def test_largefov_fc6_fc7_decimate_imagenet_vgg16(tmp_path):
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None)
    sd = vgg.state_dict()
    torch.save(sd, tmp_path / "vgg16.pth")
    cfg = compose_cfg("model=deeplab_v1", f"model.net.backbone.pretrained={tmp_path / 'vgg16.pth'}")
    cfg.data.num_classes = 21
    cfg.data.class_names = [str(i) for i in range(21)]
    net = instantiate(cfg.model.net)
    fc6, fc7 = net.head.fc[0], net.head.fc[3]
    src6 = sd["classifier.0.weight"].view(4096, 512, 7, 7)
    src7 = sd["classifier.3.weight"]
    # documented indices: every 4th filter / fc7 input, taps 0, 3, 6 of the 7x7
    assert fc6.weight.shape == (1024, 512, 3, 3) and fc7.weight.shape == (1024, 1024, 1, 1)
    assert fc6.weight[1, 5, 2, 1] == src6[4, 5, 6, 3]
    assert fc6.weight[1023, 511, 0, 2] == src6[4092, 511, 0, 6]
    assert torch.equal(fc6.weight, src6[0::4, :, 0::3, 0::3])
    assert torch.equal(fc6.bias, sd["classifier.0.bias"][0::4])
    assert fc7.weight[3, 7, 0, 0] == src7[12, 28]
    assert torch.equal(fc7.weight[:, :, 0, 0], src7[0::4, 0::4])
    assert torch.equal(fc7.bias, sd["classifier.3.bias"][0::4])
    assert torch.equal(net.backbone.stages[0][0].weight, vgg.features[0].weight)
    assert net.backbone.unused_pretrained is None  # handed over, not kept in memory


# -- 5. label shrink and MSc losses ----------------------------------------------------------
def test_label_shrink_picks_the_rows_caffes_interp_picks_on_a_321_crop():
    """DeepLab's label_shrink (Caffe Interp, align-corners) on a 321 crop and its 41x41
    logits: rows and columns 0, 8, ..., 320, the logits' centres (not 3, 11, ...)."""
    rows = torch.arange(321).view(321, 1).expand(321, 321)
    cols = torch.arange(321).view(1, 321).expand(321, 321)
    labels = torch.stack([rows, cols])  # "label" = the pixel's own row / column
    shrunk = shrink_labels(labels, (41, 41))
    assert shrunk.shape == (2, 41, 41)
    assert shrunk[0, :, 0].tolist() == list(range(0, 321, 8))
    assert shrunk[1, 0, :].tolist() == list(range(0, 321, 8))


def test_label_shrink_and_the_loss_a_hand_computation():
    labels = torch.arange(64).view(1, 8, 8) % 3
    labels[0, 4, 4] = 255  # void survives shrinking and is skipped
    shrunk = shrink_labels(labels, (3, 3))
    # align-corners: rows / columns floor(i * 7 / 2 + 0.5) = 0, 4, 7
    assert torch.equal(shrunk[0], labels[0][[0, 4, 7]][:, [0, 4, 7]])

    logits = torch.tensor([[[1.0, 0.0, -1.0]] * 3, [[0.0, 2.0, 0.5]] * 3, [[0.5, 0.5, 3.0]] * 3])
    logits = logits[None]  # 1x3 classes x3x3
    loss = SegmentationCrossEntropy(255, target_resolution="shrink")(logits, labels)
    terms = [
        -torch.log_softmax(logits[0, :, i, j], 0)[shrunk[0, i, j]]
        for i in range(3)
        for j in range(3)
        if shrunk[0, i, j] != 255
    ]
    assert len(terms) == 8 and torch.isclose(loss, torch.stack(terms).mean())
    summed = SegmentationCrossEntropy(255, target_resolution="shrink", normalization="batch")
    assert torch.isclose(summed(logits, labels), torch.stack(terms).sum())
    upsampled = SegmentationCrossEntropy(255)(logits, labels)
    big = F.interpolate(logits, size=(8, 8), mode="bilinear", align_corners=False)
    assert torch.isclose(upsampled, F.cross_entropy(big, labels, ignore_index=255))


def test_msc_loss_sums_each_scale_and_the_max():
    cfg = compose_cfg(
        "model=deeplab_v2",
        "model/backbone=vgg16_deeplab",
        "model.net.backbone.width=0.125",
        "model.net.backbone.freeze_bn=false",
        *SYNTH,
    )
    cfg.data.num_classes = 3
    module = instantiate(cfg.model).train()
    torch.manual_seed(0)
    x, y = torch.randn(2, 3, 41, 57), torch.randint(0, 3, (2, 41, 57))
    y[:, :3] = cfg.data.ignore_index
    torch.manual_seed(1)
    loss = module.training_loss(x, y)

    net = module.net
    torch.manual_seed(1)
    logits = []
    for scale in (0.5, 0.75, 1.0):
        size = (int(41 * scale), int(57 * scale))
        xs = (
            x if scale == 1.0 else F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        )
        logits.append(net.head(net.backbone(xs)))
    full = logits[-1].shape[-2:]
    fused = torch.stack(
        [F.interpolate(t, size=full, mode="bilinear", align_corners=False) for t in logits]
    ).amax(0)
    expected = 0
    for t in [*logits, fused]:  # labels sampled at each map's size, align-corners (Caffe)
        h, w = t.shape[-2:]
        rows = [int(i * 40 / (h - 1) + 0.5) for i in range(h)]
        cols = [int(j * 56 / (w - 1) + 0.5) for j in range(w)]
        small = y[:, rows][:, :, cols]
        expected = expected + F.cross_entropy(t, small, ignore_index=cfg.data.ignore_index)
    assert [tuple(t.shape[-2:]) for t in logits] == [(4, 5), (5, 7), (6, 8)]
    assert torch.isclose(loss, expected, atol=1e-6)


# -- 6. paper experiments ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("experiment", "model", "batch", "steps"),
    [
        ("voc_fcn32s", "fcn32s", 1, 100000),
        ("voc_fcn16s", "fcn16s", 1, 100000),
        ("voc_fcn8s", "fcn8s", 1, 100000),
        ("voc_deeplab_v1", "deeplab_v1", 20, 6000),
        ("voc_deeplab_v2", "deeplab_v2", 10, 20000),
        ("voc_deeplab_v3", "deeplab_v3", 16, 30000),
        ("voc_deeplab_v3plus", "deeplab_v3plus", 16, 30000),
    ],
)
def test_paper_experiments_train_on_train_aug_by_iterations(experiment, model, batch, steps):
    extra = ["model.init_from=/x.ckpt"] if model in ("fcn16s", "fcn8s") else []
    cfg = compose_cfg(f"experiment={experiment}", *extra)
    assert cfg.data.train_split == "train_aug" and cfg.data.batch_size == batch
    assert cfg.trainer.max_steps == steps and cfg.trainer.max_epochs == -1
    assert cfg.trainer.accelerator == "gpu" and model in cfg.tags


def test_iteration_budgets_set_the_poly_schedule_length():
    from seglab.training.optim import total_steps

    cfg = compose_cfg("model=deeplab_v3", "model/backbone=resnet50")
    module = instantiate(cfg.model)
    module.trainer = L.Trainer(max_steps=123, max_epochs=-1, logger=False)
    assert total_steps(module.trainer) == 123


def test_v2_head_standalone_msc_output_sizes():
    net = Segmenter(
        VGG16(width=0.125, pooling="deeplab", output_stride=8, fc_channels=0),
        partial(DeepLabV2Head, num_classes=4),
        msc_scales=[0.5, 0.75, 1.0],
    ).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 50, 70)).shape == (1, 4, 50, 70)
