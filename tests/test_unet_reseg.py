"""U-Net and ReSeg: the papers' networks (sizes, parameter counts, ReNet against a
step-by-step GRU reference) and their heads on other backbones."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from conftest import SMALL, report_jobs, run_cli
from hydra.utils import instantiate
from PIL import Image
from test_zoo import build_net, compose_cfg

from seglab.models import Segmenter, UNetEncoder
from seglab.models.heads import UNetHead
from seglab.models.renet import ReNet
from seglab.models.unet import count_unet_parameters, mirror_pad


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


def cells_of(gru: torch.nn.GRU) -> tuple[torch.nn.GRUCell, torch.nn.GRUCell]:
    """Forward and backward GRUCells holding the bidirectional GRU's weights."""
    cells = []
    for suffix in ("", "_reverse"):
        cell = torch.nn.GRUCell(gru.input_size, gru.hidden_size)
        cell.weight_ih.data.copy_(getattr(gru, f"weight_ih_l0{suffix}"))
        cell.weight_hh.data.copy_(getattr(gru, f"weight_hh_l0{suffix}"))
        cell.bias_ih.data.copy_(getattr(gru, f"bias_ih_l0{suffix}"))
        cell.bias_hh.data.copy_(getattr(gru, f"bias_hh_l0{suffix}"))
        cells.append(cell)
    return cells[0], cells[1]


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
    fwd, bwd = cells_of(layer.rows)
    rows = []
    for r in range(hp):  # left → right and right → left along every row
        right = gru_sweep(fwd, patch[r])
        left = gru_sweep(bwd, patch[r][::-1])[::-1]
        rows.append([torch.cat([a, z], 1) for a, z in zip(right, left)])
    fwd, bwd = cells_of(layer.cols)
    out = torch.zeros(b, 2 * layer.hidden, hp, wp)
    for q in range(wp):  # top → bottom and bottom → top along every column
        column = [rows[r][q] for r in range(hp)]
        down = gru_sweep(fwd, column)
        up = gru_sweep(bwd, column[::-1])[::-1]
        for r in range(hp):
            out[:, :, r, q] = torch.cat([down[r], up[r]], 1)
    return out


@pytest.mark.parametrize("patch", [(1, 1), (2, 2)])
def test_renet_equals_a_step_by_step_gru_cell_reference(patch):
    torch.manual_seed(0)
    layer = ReNet(3, 5, patch)
    x = torch.randn(2, 3, 6, 8)
    with torch.no_grad():
        fast, slow = layer(x), slow_renet(layer, x)
    assert fast.shape == (2, 10, 6 // patch[0], 8 // patch[1])
    assert torch.allclose(fast, slow, atol=1e-5)


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
    assert [r.hidden for r in renets] == [100, 100] and renets[0].rows.input_size == 256
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
