"""Reproducing the papers the way the community did: input conventions, local weight
files in documented layouts (Caffe-converted VGG16, DeepLab v2's MSRA ResNet-101), the
recipes that pair weights with their solver, DeepLab v3's head and decay."""

from __future__ import annotations

import logging

import lightning as L
import numpy as np
import pytest
import torch
import torchvision
from conftest import optimizer_of
from hydra.utils import instantiate
from omegaconf import open_dict
from test_zoo import build_net, compose_cfg

from seglab.data.input_space import CAFFE_MEAN_BGR, image_of, input_space
from seglab.errors import SeglabError
from seglab.models import ResNet
from seglab.training.recipe_checks import mismatches


# -- 1. input spaces -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["rgb_imagenet", "caffe_bgr255"])
def test_input_space_round_trips_for_the_crf_and_wandb(name):
    """An image normalised, then turned back (what the CRF's colour term and the W&B
    overlays get when a batch carries no raw image), is the original."""
    rng = np.random.default_rng(0)
    raw = torch.from_numpy(rng.integers(0, 256, (2, 17, 23, 3), dtype=np.uint8))
    space = input_space(name)
    x = space.normalize(raw)
    assert x.shape == (2, 3, 17, 23) and x.dtype == torch.float32
    assert torch.equal(space.to_raw(x), raw)
    assert torch.equal(image_of({"image": x}, space), raw)  # no raw in the batch
    assert image_of({"image": x, "raw": raw}, space) is raw


def test_caffe_space_is_bgr_0_255_minus_the_caffe_mean():
    raw = torch.tensor([[[[10, 20, 30]]]], dtype=torch.uint8)  # one RGB pixel
    x = input_space("caffe_bgr255").normalize(raw)[0, :, 0, 0]
    expected = torch.tensor(
        [30 - CAFFE_MEAN_BGR[0], 20 - CAFFE_MEAN_BGR[1], 10 - CAFFE_MEAN_BGR[2]]
    )
    assert torch.allclose(x, expected)
    rgb = input_space("rgb_imagenet").normalize(raw)[0, :, 0, 0]
    assert torch.allclose(rgb, (torch.tensor([10, 20, 30]) / 255 - torch.tensor(
        [0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))  # fmt: skip
    with pytest.raises(SeglabError, match=r"data.input_space='bgr' is not one of"):
        input_space("bgr")


def test_datasets_module_and_wandb_images_read_the_input_space():
    cfg = compose_cfg(
        "data=synthetic", "data.input_space=caffe_bgr255", "data.image_size=[24,32]",
        "data.lengths={train: 4, val: 4, test: 4}",
    )  # fmt: skip
    dm = instantiate(cfg.data)
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    assert torch.allclose(batch["image"], input_space("caffe_bgr255").normalize(batch["raw"]))
    assert batch["image"].abs().max() > 20  # 0-255 scale, not [0, 1]

    class Trainer:  # what space_of reads: the trainer's data module
        datamodule = dm

    module = instantiate(cfg.model)
    module._trainer = Trainer()
    no_raw = {k: v for k, v in batch.items() if k != "raw"}
    assert torch.equal(module.images_of(no_raw), batch["raw"])  # the CRF's image


# -- 2. weight files ------------------------------------------------------------------------------
@pytest.mark.slow
def test_caffe_vgg16_in_torchvision_layout_loads_whole_and_changes_the_output(tmp_path):
    """The public FCN port distributes Caffe's VGG16 in torchvision's VGG16 layout
    (features.N / classifier.0|3|6): every backbone tensor is filled, nothing is left
    over but ImageNet's fc8, and the network's output changes."""
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None)
    file = tmp_path / "vgg16_caffe.pth"
    torch.save(vgg.state_dict(), file)
    torch.manual_seed(1)
    plain = build_net("fcn32s", num_classes=3).eval()
    torch.manual_seed(1)
    loaded = build_net("fcn32s", f"model.net.backbone.pretrained={file}", num_classes=3).eval()
    report = loaded.backbone.pretrained_report
    assert report.new == [] and report.mismatched == []
    assert len(report.loaded) == 13 * 2 + 2 * 2  # 13 convs + fc6/fc7, weight and bias
    assert len(vgg.state_dict()) - len(report.loaded) == 2  # left over: fc8 (classifier.6)
    reseg = build_net("reseg", f"model.net.backbone.pretrained={file}", num_classes=3)
    assert reseg.backbone.pretrained_report.new == []  # the same file: conv1_1 .. conv3_3
    assert len(reseg.backbone.pretrained_report.loaded) == 7 * 2
    assert torch.equal(reseg.backbone.stages[2][4].weight, vgg.features[14].weight)
    assert torch.equal(loaded.backbone.stages[4][4].weight, vgg.features[28].weight)
    assert torch.equal(loaded.backbone.fc[0].weight.flatten(1), vgg.classifier[0].weight)
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        assert not torch.allclose(plain.backbone(x)["out"], loaded.backbone(x)["out"])
        for net in (plain, loaded):
            torch.nn.init.normal_(net.head.score.weight, std=0.01)  # zero in the paper
        torch.manual_seed(2)
        assert not torch.allclose(plain(x), loaded(x))
    # a file that does not fill the backbone is an error that lists what is missing
    partial = {k: v for k, v in vgg.state_dict().items() if not k.startswith("features.28")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(Exception, match=r"(?s)does not fill the vgg16 backbone.*missing .*stages"):
        build_net("fcn32s", f"model.net.backbone.pretrained={tmp_path / 'partial.pth'}")


def test_msra_resnet101_has_deeplab_v2s_geometry():
    net = ResNet(depth=101, output_stride=8, style="msra").eval()
    block = net.layer2[0]
    assert block.conv1.stride == (2, 2) and block.conv2.stride == (1, 1)  # stride in the 1x1
    assert block.downsample[0].stride == (2, 2)
    assert net.maxpool.ceil_mode
    assert [b.conv2.dilation for b in net.layer3] == [(2, 2)] * 23  # every block, first too
    assert [b.conv2.dilation for b in net.layer4] == [(4, 4)] * 3
    assert all(b.conv1.stride == b.conv2.stride == (1, 1) for b in [*net.layer3, *net.layer4])
    tv = ResNet(depth=101, output_stride=8).eval()  # torchvision's, for contrast
    assert tv.layer2[0].conv2.stride == (2, 2) and tv.layer2[0].conv1.stride == (1, 1)
    assert tv.layer3[0].conv2.dilation == (1, 1) and not tv.maxpool.ceil_mode
    with torch.no_grad():  # DeepLab v2: a 321 crop gives 41 x 41 logits
        assert net(torch.zeros(1, 3, 321, 321))["out"].shape[-2:] == (41, 41)
    assert net.geometry["out"].stride == 8 and net.geometry["c3"].stride == 8
    os16 = ResNet(depth=50, output_stride=16, style="msra")
    assert [b.conv2.dilation for b in os16.layer4] == [(2, 2)] * 3
    assert os16.layer3[0].conv1.stride == (2, 2) and os16.geometry["out"].stride == 16
    with pytest.raises(ValueError, match=r"model.net.backbone.style must be one of"):
        ResNet(depth=50, style="caffe")


def deeplab_v2_state_dict(net: ResNet, num_classes: int, prefix: str = "base.") -> dict:
    """A state dict in the DeepLab v2 conversion's layout (kazuto1011/deeplab-pytorch),
    written key by key from the documented table, with fresh random values."""
    units = {"conv1": ("reduce", "conv"), "bn1": ("reduce", "bn"), "conv2": ("conv3x3", "conv"),
             "bn2": ("conv3x3", "bn"), "conv3": ("increase", "conv"), "bn3": ("increase", "bn"),
             "downsample.0": ("shortcut", "conv"), "downsample.1": ("shortcut", "bn")}  # fmt: skip
    out, g = {}, torch.Generator().manual_seed(0)
    for name, value in net.state_dict().items():
        if name.startswith(("conv1.", "bn1.")):
            kind, key = name.split(".", 1)
            theirs = f"layer1.conv1.{'conv' if kind == 'conv1' else 'bn'}.{key}"
        else:
            layer, block, rest = name.split(".", 2)
            unit, key = rest.rsplit(".", 1)
            part, kind = units[unit]
            theirs = f"layer{int(layer[5:]) + 1}.block{int(block) + 1}.{part}.{kind}.{key}"
        out[prefix + theirs] = (
            value.clone() if value.dtype == torch.long else torch.rand(value.shape, generator=g)
        )
    for j in range(4):  # rates 6, 12, 18, 24
        out[f"{prefix}aspp.c{j}.weight"] = torch.randn(num_classes, 2048, 3, 3, generator=g) * 0.01
        out[f"{prefix}aspp.c{j}.bias"] = torch.randn(num_classes, generator=g)
    return out


@pytest.mark.slow
def test_deeplab_v2_weights_file_loads_strictly_into_the_msra_resnet(tmp_path):
    sd = deeplab_v2_state_dict(ResNet(depth=101, style="msra"), num_classes=4)
    file = tmp_path / "deeplabv2_caffe.pth"
    torch.save(sd, file)
    overrides = ["model.net.backbone.style=msra", f"model.net.backbone.pretrained={file}"]
    net = build_net("deeplab_v2", *overrides, num_classes=4)
    assert net.backbone.pretrained_report.new == []  # nothing missing
    assert torch.equal(net.backbone.layer3[22].conv2.weight,
                       sd["base.layer4.block23.conv3x3.conv.weight"])  # fmt: skip
    assert torch.equal(net.backbone.bn1.running_var, sd["base.layer1.conv1.bn.running_var"])
    assert torch.equal(net.backbone.layer2[0].downsample[1].weight,
                       sd["base.layer3.block1.shortcut.bn.weight"])  # fmt: skip
    assert torch.equal(net.head.branches[3].weight, sd["base.aspp.c3.weight"])  # same classes
    # the VOC fine-tuning's new classifier: other classes leave the ASPP at its init
    other = build_net("deeplab_v2", *overrides, num_classes=21)
    assert not torch.equal(other.head.branches[0].bias[:4], sd["base.aspp.c0.bias"])
    # unknown and missing keys are errors that list them
    torch.save({**sd, "base.layer9.extra.weight": torch.zeros(1)}, tmp_path / "unknown.pth")
    with pytest.raises(Exception, match=r"(?s)not in the accepted layout.*base.layer9.extra"):
        build_net(
            "deeplab_v2", overrides[0], f"model.net.backbone.pretrained={tmp_path / 'unknown.pth'}"
        )
    del sd["base.layer5.block3.increase.conv.weight"]
    torch.save(sd, tmp_path / "missing.pth")
    with pytest.raises(Exception, match=r"missing layer4.2.conv3.weight"):
        build_net(
            "deeplab_v2", overrides[0], f"model.net.backbone.pretrained={tmp_path / 'missing.pth'}"
        )
    with pytest.raises(Exception, match=r"set model.net.backbone.style=msra"):
        build_net("deeplab_v2", f"model.net.backbone.pretrained={file}")


def test_coco_init_file_loads_its_trunk_and_skips_the_coco_classifier(tmp_path, caplog):
    """The file the published DeepLab v2 number starts from: kazuto1011's converter saves
    the COCO-initialised model through its DeepLab v1 container, so it also holds the
    91-class classifier ``fc.*``. The trunk loads strictly, the classifier is skipped with
    one line naming it, and the trunk computes what the same file without ``fc.*`` gives."""
    trunk = deeplab_v2_state_dict(ResNet(depth=50, style="msra"), num_classes=91)
    coco = {**trunk, "base.fc.weight": torch.randn(91, 2048, 1, 1), "base.fc.bias": torch.randn(91)}
    torch.save(trunk, tmp_path / "trunk.pth")
    torch.save(coco, tmp_path / "coco_init.pth")
    with caplog.at_level(logging.INFO, logger="seglab"):
        with_fc = ResNet(depth=50, style="msra", pretrained=str(tmp_path / "coco_init.pth"))
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1
    assert "base.fc.weight 91x2048x1x1, base.fc.bias 91, a 91-class classifier" in skipped[0]
    without = ResNet(depth=50, style="msra", pretrained=str(tmp_path / "trunk.pth"))
    loaded = with_fc.pretrained_report.loaded
    assert loaded == without.pretrained_report.loaded and with_fc.pretrained_report.new == []
    assert len(loaded) == len(with_fc.state_dict())  # every trunk tensor, from the file
    with_fc.eval(), without.eval()
    x = torch.randn(1, 3, 65, 65)
    assert torch.equal(with_fc(x)["out"], without(x)["out"])
    # any other unknown key is still an error naming it
    torch.save({**coco, "base.fc8.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(SeglabError, match=r"not in the accepted layout.*base.fc8.weight"):
        ResNet(depth=50, style="msra", pretrained=str(tmp_path / "other.pth"))


# -- 3. recipes ----------------------------------------------------------------------------------
def test_caffe_learning_rates_on_normalised_inputs_warn_with_the_fix(caplog):
    from seglab.training.recipe_checks import warn_once

    wrong = compose_cfg("model=fcn32s")  # Caffe lr, summed loss, rgb_imagenet inputs
    (message,) = mismatches(wrong)
    assert "data.input_space=caffe_bgr255" in message and "voc_fcn*_torchvision" in message
    with caplog.at_level(logging.WARNING, logger="seglab.training.recipe_checks"):
        warn_once(wrong)
        warn_once(wrong)
    assert [r.message for r in caplog.records].count(message) == 1  # once
    for experiment in ("voc_fcn32s", "voc_fcn8s_atonce", "voc_fcn32s_torchvision",
                       "voc_fcn8s_torchvision"):  # fmt: skip
        given = ["model.init_from=/x", "model.net.backbone.pretrained=/x.pth"]
        if experiment.endswith("_torchvision"):
            given = given[:1]  # pretrained=imagenet
        assert mismatches(compose_cfg(f"experiment={experiment}", *given)) == []
    swapped = compose_cfg("experiment=voc_fcn32s_torchvision", "data.input_space=caffe_bgr255")
    assert "pretrained=imagenet" in mismatches(swapped)[0]


def test_fcn8s_at_once_is_its_solver_and_net_file():
    cfg = compose_cfg("experiment=voc_fcn8s_atonce")
    assert list(cfg.model.net.head.skip_scales) == [0.01, 0.0001]
    assert cfg.model.optimizer.lr == 1e-10 and cfg.model.optimizer.momentum == 0.99
    assert cfg.model.loss.normalization == "batch" and cfg.model.init_from is None
    assert cfg.trainer.max_steps == 300000 and cfg.data.input_space == "caffe_bgr255"
    tv = compose_cfg("experiment=voc_fcn8s_atonce_torchvision")
    assert tv.model.net.backbone.pretrained == "imagenet" and tv.data.input_space == "rgb_imagenet"
    assert tv.model.loss.normalization == "valid" and tv.model.optimizer.lr == pytest.approx(1.9e-5)


def test_deeplab_v3_head_and_decay_follow_the_authors_code():
    cfg = compose_cfg("model=deeplab_v3", "model/backbone=resnet50")
    module = instantiate(cfg.model)
    module.trainer = L.Trainer(max_steps=10, max_epochs=-1, logger=False)  # poly's length
    head = module.net.head
    assert head[0].project[-1].p == 0.1  # dropout after the projection
    bns = [m for m in module.net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.momentum == pytest.approx(0.0003) for m in bns)  # decay 0.9997
    optimizer = optimizer_of(module)
    decay = {}
    for group in optimizer.param_groups:
        for name in group["names"]:
            decay[name] = group["weight_decay"]
    norms = {n for n, m in module.net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    for name, value in decay.items():
        is_norm = name.rsplit(".", 1)[0] in norms
        if is_norm or name.endswith(".bias"):
            assert value == 0.0, name
        else:
            assert value == pytest.approx(1e-4), name
    assert sum(1 for v in decay.values() if v == 0) > 100  # every BN and bias


PAPER_EXPERIMENTS = [
    "voc_fcn32s", "voc_fcn16s", "voc_fcn8s", "voc_fcn8s_atonce", "voc_fcn32s_torchvision",
    "voc_fcn8s_atonce_torchvision", "voc_deeplab_v1", "voc_deeplab_v2_caffe", "voc_deeplab_v3",
    "voc_deeplab_v3plus", "cityscapes_deeplab_v3plus", "camvid_reseg",
]  # fmt: skip


@pytest.mark.parametrize("experiment", PAPER_EXPERIMENTS)
@pytest.mark.slow
def test_each_paper_experiment_trains_a_step_on_generated_data(experiment):
    """The paper recipe as composed (model, loss, solver, parameter groups, input space),
    on generated shapes: no weights can be downloaded here, so the backbones start
    random (``pretrained=null``; a frozen trunk stays frozen)."""
    cfg = compose_cfg(
        f"experiment={experiment}", "data=synthetic", "model.net.backbone.pretrained=null",
        "model.init_from=null", "data.image_size=[32,32]", "data.crop_size=[32,32]",
        "data.lengths={train: 2, val: 2, test: 2}",
    )  # fmt: skip
    with open_dict(cfg):
        cfg.data.batch_size = 2
    dm = instantiate(cfg.data)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    module = instantiate(cfg.model).train()
    module.trainer = L.Trainer(max_steps=10, max_epochs=-1, logger=False)  # schedule length
    optimizer = optimizer_of(module)
    torch.manual_seed(0)
    loss = module.training_loss(batch["image"], batch["mask"])
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    trained = [p for g in optimizer.param_groups for p in g["params"]]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
    assert all(optimizer.state[p] for p in trained if p.grad is not None)  # a step was taken
