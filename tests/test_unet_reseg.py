"""U-Net and ReSeg: the papers' networks (sizes, parameter counts, ReNet against a
step-by-step GRU reference) and their heads on other backbones."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from conftest import SMALL, optimizer_of, report_jobs, run_cli
from hydra.utils import instantiate
from PIL import Image
from test_zoo import build_net, compose_cfg

from seglab.models import Segmenter, UNetEncoder
from seglab.models.backbones.unet import count_unet_parameters, mirror_pad
from seglab.models.heads import UNetHead
from seglab.models.renet import BiSweep, ReNet


def paper_unet(in_channels: int = 3, overlap_tile: bool = False, width: float = 1.0):
    return Segmenter(
        UNetEncoder(in_channels=in_channels, overlap_tile=overlap_tile, width=width),
        partial(UNetHead, num_classes=2, skips=["c4", "c3", "c2", "c1"], padding="valid"),
    )


def test_unet_valid_is_572_in_388_out_with_23_convolutions():
    net = paper_unet().eval()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    assert len(convs) == 23
    with torch.no_grad():
        feats = net.backbone(torch.zeros(1, 3, 572, 572))
        logits = net.head(feats, (572, 572))
    assert logits.shape == (1, 2, 388, 388)
    assert feats["c5"].shape[-1] == 28  # the bottleneck of the paper's Fig. 1


def test_unet_parameter_count_is_the_papers():
    """Checked three ways: the literal figure, an independent layer-by-layer sum from the
    paper's description (``count_unet_parameters`` builds no module), and the model."""
    expected = {3: 31_031_810, 1: 31_030_658}
    for in_channels, count in expected.items():
        assert count_unet_parameters(in_channels, 2) == count
        net = paper_unet(in_channels)
        assert sum(p.numel() for p in net.parameters()) == count
    cells_first_conv = 64 * 1 * 9 + 64
    assert expected[3] - expected[1] == (64 * 3 * 9 + 64) - cells_first_conv
    assert sum(p.numel() for p in build_net("unet", num_classes=2).parameters()) == 31_031_810


def test_unet_overlap_tile_predicts_the_whole_image():
    net = build_net("unet", "model.net.backbone.width=0.125", num_classes=4).eval()
    assert net.backbone.overlap_tile and net.backbone.geometry["c1"].offset == -90
    with torch.no_grad():
        for size in [(360, 480), (97, 131), (33, 47)]:
            assert net(torch.randn(1, 3, *size)).shape == (1, 4, *size), size
        # no interpolation: the decoder's full-resolution output is cropped, not resized
        x = torch.randn(1, 3, 60, 76)
        feats = net.backbone(x)
        assert net.head(feats, (60, 76)).shape[-2:] == (60, 76)


def test_mirror_padding_reflects_as_often_as_needed():
    x = torch.arange(5.0).view(1, 1, 1, 5)
    out = mirror_pad(x, 0, 0, 7, 0)  # 7 > 4: one reflection (4 px), then 3 more
    assert out[0, 0, 0].tolist() == [1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4]
    # a 1-pixel side has nothing to reflect: repeated (the loop used to never end)
    one = mirror_pad(torch.ones(1, 1, 1, 1), 92, 93, 92, 95)
    assert one.shape[-2:] == (186, 188) and bool((one == 1).all())
    net = build_net("unet", "model.net.backbone.width=0.125", num_classes=2).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 1, 1)).shape == (1, 2, 1, 1)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("upsampling", ["transposed", "bilinear"])
def test_unet_options_keep_the_input_size(padding, upsampling):
    net = build_net(
        "unet",
        f"model.net.backbone.padding={padding}",
        f"model.net.head.upsampling={upsampling}",
        "model.net.backbone.width=0.125",
        "model.net.backbone.batch_norm=true",
        num_classes=3,
    ).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 45, 61)).shape == (1, 3, 45, 61)


# -- ReNet / ReSeg ---------------------------------------------------------------------------------
def gru_sweep(cell: torch.nn.GRUCell, seq: list[torch.Tensor]) -> list[torch.Tensor]:
    h, out = torch.zeros(seq[0].shape[0], cell.hidden_size), []
    for x in seq:
        h = cell(x, h)
        out.append(h)
    return out


def cell_of(gru: torch.nn.GRU, suffix: str = "") -> torch.nn.GRUCell:
    """A GRUCell holding one direction of ``gru``'s weights."""
    cell = torch.nn.GRUCell(gru.input_size, gru.hidden_size)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data.copy_(getattr(gru, f"{name}_l0{suffix}"))
    return cell


def slow_sweep(sweep: BiSweep, seq: list[torch.Tensor]) -> list[torch.Tensor]:
    """One bidirectional sweep step by step: parallel (both directions read ``seq``) or
    stacked (the backward GRU reads the forward GRU's outputs, fvisin/reseg)."""
    if sweep.directions == "parallel":
        fwd, bwd = cell_of(sweep.gru), cell_of(sweep.gru, "_reverse")
        ahead = gru_sweep(fwd, seq)
        back = gru_sweep(bwd, seq[::-1])[::-1]
    else:
        fwd, bwd = cell_of(sweep.forward_gru), cell_of(sweep.backward_gru)
        ahead = gru_sweep(fwd, seq)
        back = gru_sweep(bwd, ahead[::-1])[::-1]
    return [torch.cat([a, z], 1) for a, z in zip(ahead, back)]


def slow_renet(layer: ReNet, x: torch.Tensor) -> torch.Tensor:
    """The ReNet layer pixel by pixel: patches cut by hand, GRUCell steps in Python."""
    b, c, h, w = x.shape
    ph, pw = layer.ph, layer.pw
    hp, wp = h // ph, w // pw
    patch = [
        [x[:, :, r * ph : (r + 1) * ph, q * pw : (q + 1) * pw].permute(0, 2, 3, 1).reshape(b, -1)
         for q in range(wp)]
        for r in range(hp)
    ]  # fmt: skip
    rows = [slow_sweep(layer.rows, patch[r]) for r in range(hp)]  # along every row
    out = torch.zeros(b, 2 * layer.hidden, hp, wp)
    for q in range(wp):  # then along every column
        column = slow_sweep(layer.cols, [rows[r][q] for r in range(hp)])
        for r in range(hp):
            out[:, :, r, q] = column[r]
    return out


@pytest.mark.parametrize("directions", ["stacked", "parallel"])
@pytest.mark.parametrize("patch", [(1, 1), (2, 2)])
def test_renet_equals_a_step_by_step_gru_cell_reference(patch, directions):
    torch.manual_seed(0)
    layer = ReNet(3, 5, patch, directions)
    for p in layer.parameters():  # non-zero everywhere (b_hh stays Lasagne's zero)
        if p.requires_grad:
            torch.nn.init.uniform_(p, -0.5, 0.5)
    x = torch.randn(2, 3, 6, 8)
    with torch.no_grad():
        fast, slow = layer(x), slow_renet(layer, x)
    assert fast.shape == (2, 10, 6 // patch[0], 8 // patch[1])
    assert torch.allclose(fast, slow, atol=1e-5)


def test_stacked_backward_gru_reads_the_forward_grus_output():
    """fvisin/reseg layers.py BidirectionalRNNLayer: ``l_backward =
    RecurrentNet(l_forward, ..., backwards=True)``."""
    torch.manual_seed(0)
    sweep = BiSweep(4, 3, "stacked")
    seen = {}
    sweep.forward_gru.register_forward_hook(lambda m, i, o: seen.update(fwd=o[0]))
    sweep.backward_gru.register_forward_pre_hook(lambda m, i: seen.update(bwd_in=i[0]))
    with torch.no_grad():
        out = sweep(torch.randn(2, 7, 4))
    assert sweep.backward_gru.input_size == 3  # the forward GRU's width, not the input's 4
    assert torch.equal(seen["bwd_in"], seen["fwd"].flip(1))  # read from the end
    assert torch.equal(out[..., :3], seen["fwd"])
    assert ReNet(4, 3).rows.directions == "stacked"  # the default


def test_reseg_parameter_count_is_the_authors_lasagne_network():
    """ReSeg's CamVid network counted from the authors' Lasagne layers (fvisin/reseg):
    VGG16 to conv3_3 (vgg16.py), two ReNet layers of stacked bidirectional GRUs
    (layers.py ReNetLayer / BidirectionalRNNLayer; Lasagne's GRULayer has, per gate,
    W_in (d x h), W_hid (h x h) and one bias b (h): 3 (d h + h h + h)), two 2x2
    up-convolutions of 50 filters, a 1x1 to the 11 classes."""

    def conv(cin, cout, k):
        return cin * cout * k * k + cout

    def gru(d, h):  # Lasagne GRULayer: resetgate, updategate, hidden_update
        return 3 * (d * h + h * h + h)

    vgg = (conv(3, 64, 3) + conv(64, 64, 3) + conv(64, 128, 3) + conv(128, 128, 3)
           + conv(128, 256, 3) + 2 * conv(256, 256, 3))  # fmt: skip
    assert vgg == 1_735_488

    def renet(d, h):  # sub-layer 0 (rows) on d, sub-layer 1 (columns) on its 2h output
        bidir = lambda n: gru(n, h) + gru(h, h)  # noqa: E731  stacked: backward reads h
        return bidir(d) + bidir(2 * h)

    assert renet(256, 100) == 107_100 + 60_300 + 90_300 + 60_300 == 318_000
    assert renet(200, 100) == 301_200
    up = (200 * 50 * 4 + 50) + (50 * 50 * 4 + 50)
    total = vgg + renet(256, 100) + renet(200, 100) + up + conv(50, 11, 1)
    assert total == 2_405_349
    net = build_net("reseg", num_classes=11)
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == total
    # PyTorch's second GRU bias (b_hh) is Lasagne's absent one: zero and frozen
    frozen = [n for n, p in net.named_parameters() if not p.requires_grad]
    assert frozen and all("bias_hh" in n for n in frozen)
    assert all(float(p.abs().sum()) == 0 for n, p in net.named_parameters() if "bias_hh" in n)


def test_reseg_frozen_vgg_does_not_change_in_a_training_step(tmp_path):
    """backbone.freeze=true (ReSeg's trainable=False VGG16): a training step changes the
    head, not the trunk's weights or its BN statistics."""
    from seglab.models import VGG16

    trunk = VGG16(width=0.125, batch_norm=True, conv1_padding=1, fc_channels=0,
                  last_conv="conv3_3")  # fmt: skip
    torch.save(trunk.state_dict(), tmp_path / "vgg.pth")
    cfg = compose_cfg(
        "model=reseg", "model.net.backbone.width=0.125", "model.net.backbone.batch_norm=true",
        f"model.net.backbone.pretrained={tmp_path / 'vgg.pth'}", "model.net.backbone.freeze=true",
        "model.net.head.hidden=[8,8]", "model.net.head.up_channels=8",
    )  # fmt: skip
    module = instantiate(cfg.model).train()
    trunk_layers = list(module.net.backbone.modules())[1:]
    assert not any(m.training for m in trunk_layers)  # the frozen trunk stays in eval mode
    before = {k: v.clone() for k, v in module.net.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in module.net.head.state_dict().items()}
    optimizer = optimizer_of(module)
    x, y = torch.randn(2, 3, 32, 40), torch.randint(0, 5, (2, 32, 40))
    module.training_loss(x, y).backward()
    optimizer.step()
    after = module.net.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN stats
    assert any(not torch.equal(head_before[k], v) for k, v in module.net.head.state_dict().items())
    assert torch.equal(after["stages.0.0.weight"], trunk.state_dict()["stages.0.0.weight"])


def test_reseg_recipe_is_the_authors_loss_and_batch():
    cfg = compose_cfg("experiment=camvid_reseg")
    assert cfg.data.batch_size == 5
    assert cfg.data.train_augment._target_ == "seglab.data.augment.none"  # whole frames
    assert cfg.model.loss.normalization == "batch"  # summed per image, mean over the batch
    assert cfg.model.net.head.directions == "stacked"
    assert cfg.model.net.backbone.freeze and cfg.model.net.backbone.pretrained == "imagenet"
    assert cfg.model.optimizer._target_ == "torch.optim.Adadelta"
    assert cfg.callbacks.early_stopping.patience == 7


# -- U-Net dropout and border weight map -----------------------------------------------------------
def test_unet_dropout_ends_the_contracting_path():
    net = build_net("unet", "model.net.backbone.width=0.125", num_classes=2)
    enc = net.backbone
    assert enc.drop.p == 0.5 and enc.dropped == {"c4", "c5"}
    x = torch.randn(1, 3, 92, 92)
    enc.train()
    torch.manual_seed(0)
    feats = enc(x)
    assert (feats["c5"] == 0).float().mean() > 0.3  # about half dropped (ReLU zeros too)
    enc.eval()
    with torch.no_grad():
        a, b = enc(x), enc(x)
    assert torch.equal(a["c5"], b["c5"]) and torch.equal(a["c4"], b["c4"])
    none = build_net("unet", "model.net.backbone.dropout=0.0", "model.net.backbone.width=0.125")
    assert none.backbone.dropped == set()
    with pytest.raises(Exception, match=r"model.net.backbone.dropout must be in \[0, 1\)"):
        build_net("unet", "model.net.backbone.dropout=1.5")


def two_touching_blobs() -> np.ndarray:
    """Two discs of class 1 separated by a 2-pixel gap of background (class 0)."""
    yy, xx = np.mgrid[:64, :120]
    label = np.zeros((64, 120), np.int64)
    label[(yy - 32) ** 2 + (xx - 30) ** 2 <= 20**2] = 1  # columns 10 .. 50
    label[(yy - 32) ** 2 + (xx - 73) ** 2 <= 20**2] = 1  # columns 53 .. 93
    return label


def test_unet_weight_map_is_high_between_touching_blobs_and_wc_far_away():
    from seglab.training.weight_map import border_weights

    label = two_touching_blobs()
    assert label[32, 51] == label[32, 52] == 0 and label[32, 50] == label[32, 53] == 1
    w = border_weights(label, w0=10, sigma=5, ignore_index=255, background=0)
    between = w[32, 51:53]
    print("weight between the blobs", between.tolist(), "far away", float(w[2, 117]))
    assert between.min() > 10 / 2  # d1 = d2 = 1 or 2 px: 1 + 10 exp(-(d1 + d2)^2 / 50)
    assert between.min() == pytest.approx(1 + 10 * np.exp(-9 / 50), rel=0.02)
    assert w[2, 117] == pytest.approx(1.0, abs=1e-3)  # far from both: w_c
    assert w[32, 30] == pytest.approx(1.0, abs=1e-3)  # a blob's centre: 20+ px to the other
    weighted = border_weights(label, 10, 5, 255, 0, class_weights=[0.5, 2.0])
    assert weighted[2, 117] == pytest.approx(0.5, abs=1e-3)  # w_c = class weight
    assert weighted[32, 30] == pytest.approx(2.0, abs=1e-3)
    label[0, 0] = 255
    assert border_weights(label, 10, 5, 255, 0)[0, 0] == 0  # ignored pixels weigh nothing


def test_unet_weight_map_loss_weights_pixels_and_is_cached():
    from seglab.training.losses import SegmentationCrossEntropy
    from seglab.training.weight_map import border_weights

    label = torch.from_numpy(two_touching_blobs())[None].repeat(2, 1, 1)
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 64, 120)
    loss = SegmentationCrossEntropy(255, unet_weight_map={"w0": 10, "sigma": 5, "background": 0})
    w = torch.from_numpy(border_weights(label[0].numpy(), 10, 5, 255, 0))
    pixel = torch.nn.functional.cross_entropy(logits, label, reduction="none")
    assert torch.isclose(loss(logits, label), (pixel * w).sum() / label.numel())
    assert loss.weight_map.misses == 1 and loss.weight_map.hits == 1  # same label twice
    cfg = compose_cfg("model=unet", "model.loss.unet_weight_map={w0: 10, sigma: 5}")
    assert instantiate(cfg.model.loss).weight_map.w0 == 10
    with pytest.raises(Exception, match=r"unet_weight_map has unknown keys \['sgima'\]"):
        SegmentationCrossEntropy(255, unet_weight_map={"w0": 10, "sgima": 5})


def test_renet_reaches_the_whole_image():
    """A change in one corner reaches the opposite corner after one ReNet layer."""
    torch.manual_seed(0)
    layer = ReNet(2, 4).eval()
    x = torch.randn(1, 2, 7, 9)
    y = x.clone()
    y[..., 0, 0] += 1.0
    with torch.no_grad():
        assert not torch.allclose(layer(x)[..., -1, -1], layer(y)[..., -1, -1])


def test_reseg_keeps_odd_input_sizes_and_is_the_papers_network():
    net = build_net("reseg", num_classes=11).eval()
    renets = list(net.head.renets)
    assert [r.hidden for r in renets] == [100, 100]
    assert renets[0].rows.forward_gru.input_size == 256
    ups = [m for m in net.head.upsample if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(u.out_channels, u.kernel_size, u.stride) for u in ups] == [(50, (2, 2), (2, 2))] * 2
    assert net.backbone.geometry["out"].stride == 4 and net.backbone.channels["out"] == 256
    with torch.no_grad():
        for size in [(97, 131), (33, 47), (64, 80)]:
            assert net(torch.randn(1, 3, *size)).shape == (1, 11, *size), size
    coarse = build_net("reseg", "model.net.head.patches=[[2,2],[1,1]]", num_classes=3).eval()
    assert len([m for m in coarse.head.upsample if isinstance(m, torch.nn.ConvTranspose2d)]) == 3
    with torch.no_grad():
        assert coarse(torch.randn(1, 3, 37, 53)).shape == (1, 3, 37, 53)


def test_head_errors_say_why():
    with pytest.raises(Exception, match=r"one \(h, w\) per ReNet layer"):
        build_net("reseg", "model.net.head.patches=[[1,1]]")
    with pytest.raises(Exception, match=r"decoder_channels \[8\] needs one width per skip"):
        build_net("fcn8s", "model/backbone=resnet50", "model/head=unet",
                  "model.net.head.decoder_channels=[8]")  # fmt: skip
    with pytest.raises(Exception, match=r"U-Net has no ImageNet weights"):
        build_net("unet", "model.net.backbone.pretrained=imagenet")


def test_unet_and_reseg_modules_train_with_their_optimizers():
    for model, target in (("unet", "SGD"), ("reseg", "Adadelta")):
        cfg = compose_cfg(f"model={model}")
        module = instantiate(cfg.model)
        optimizer = module.configure_optimizers()
        assert type(optimizer).__name__ == target


@pytest.mark.slow
def test_unet_and_reseg_jobs_in_a_sweep_report_and_predict(tmp_path):
    """Both as ablation variants of a small sweep; seglab-report rebuilds them for
    parameters and GFLOPs; seglab-predict writes full-size masks with each checkpoint."""
    run_cli(
        "seglab-train", "-m", *SMALL, "trainer=debug", "logger=csv", "+ablation=unet,reseg",
        cwd=tmp_path,
    )  # fmt: skip
    (sweep,) = (tmp_path / "multirun").glob("*/*")
    run_cli("seglab-report", str(sweep), cwd=tmp_path)
    table = (sweep / "report.md").read_text()
    print(table)
    rows = {r["model"]: r for r in report_jobs(table).values()}
    assert set(rows) == {"unet", "reseg"}
    assert rows["unet"]["backbone"] == "UNetEncoder ×0.125" and rows["unet"]["OS"] == "16"
    assert rows["reseg"]["backbone"] == "VGG16 ×0.125" and rows["reseg"]["OS"] == "4"
    for cells in rows.values():
        assert float(cells["params (M)"]) > 0 and float(cells["GFLOPs"]) > 0

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (97, 131, 3), dtype=np.uint8)).save(images / "odd.png")
    for job in ("0", "1"):
        out = tmp_path / f"out{job}"
        run_cli(
            "seglab-predict", f"ckpt_path={sweep / job}/checkpoints/last.ckpt",
            f"input={images}", f"output={out}", cwd=tmp_path,
        )  # fmt: skip
        assert Image.open(out / "odd_labels.png").size == (131, 97)
