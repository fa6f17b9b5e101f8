"""Sliding-window evaluation (``model.eval_mode=slide``, ``seglab-predict sliding_window``):
mmseg's window grid, each pixel the average of the windows that cover it, whole-frame
scores when the window is the frame, composition with TTA and the CRF, one-line errors,
and seglab-eval / seglab-predict on a checkpoint that evaluates by sliding."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli, val_per_epoch
from layouts import write_cityscapes
from omegaconf import OmegaConf
from PIL import Image
from torch import Tensor, nn

from seglab.errors import ConfigError
from seglab.models.inference import slide_logits, tta_logits, window_starts
from seglab.run.validate import check_command_line
from seglab.training.module import SegmentationModule

FRAME = (64, 128)  # Cityscapes' 1:2 aspect
CROP, STRIDE = (48, 48), (32, 32)


class ContextNet(nn.Module):
    """Scores that depend on the whole input (a conv plus the input's global mean, with
    a left-right asymmetric kernel): two windows give a shared pixel different scores,
    and a flipped view differs from the unflipped one."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, classes, 3, padding=1)
        self.context = nn.Linear(3, classes)

    def forward(self, x: Tensor) -> Tensor:
        pooled = self.context(x.mean(dim=(2, 3)))[..., None, None]
        return self.conv(x) + pooled


def cityscapes_frame(tmp_path: Path) -> Tensor:
    """A generated Cityscapes-layout frame (leftImg8bit/val/…) as a 1×3×64×128 input."""
    root = write_cityscapes(tmp_path / "cs", per_city=1, size=FRAME)
    (path,) = sorted((root / "leftImg8bit" / "val" / "frankfurt").glob("*.png"))
    rgb = np.asarray(Image.open(path), dtype=np.float32) / 255
    return torch.from_numpy(rgb).permute(2, 0, 1)[None]


def module(**kwargs) -> SegmentationModule:
    return SegmentationModule(
        net=ContextNet(),
        loss=nn.CrossEntropyLoss(ignore_index=255),
        optimizer=partial(torch.optim.SGD, lr=0.1),
        num_classes=4,
        ignore_index=255,
        class_names=["a", "b", "c", "d"],
        **kwargs,
    ).eval()


def mmseg_starts(size: int, crop: int, stride: int) -> list[int]:
    """mmseg's EncoderDecoder.slide_inference, one side, as written there."""
    grids = max(size - crop + stride - 1, 0) // stride + 1
    starts = []
    for i in range(grids):
        y1 = i * stride
        y2 = min(y1 + crop, size)
        starts.append(max(y2 - crop, 0))
    return starts


@pytest.mark.parametrize(
    ("size", "crop", "stride", "expected"),
    [
        (1024, 769, 513, [0, 255]),  # Cityscapes' height, mmseg's 769/513
        (2048, 769, 513, [0, 513, 1026, 1279]),  # … and width
        (512, 512, 341, [0]),  # ADE20K's crop on a frame of its size
        (64, 48, 32, [0, 16]),
        (128, 48, 32, [0, 32, 64, 80]),
        (40, 48, 32, [0]),  # a side shorter than the window
        (100, 10, 10, list(range(0, 100, 10))),  # no overlap
    ],
)
def test_window_starts_follow_mmsegs_grid(size, crop, stride, expected):
    assert window_starts(size, crop, stride) == expected == mmseg_starts(size, crop, stride)


def test_a_window_as_large_as_the_frame_gives_the_whole_frame_scores(tmp_path):
    x = cityscapes_frame(tmp_path)
    net = ContextNet().eval()
    with torch.no_grad():
        whole = net(x)
        # the frame itself; mmseg's Cityscapes window, larger than the frame
        for crop, stride in ((FRAME, (32, 64)), ((769, 769), (513, 513))):
            assert torch.equal(slide_logits(net, x, crop, stride), whole)
        # the module: eval_mode=slide with the frame as its window is eval_mode=whole
        sliding = module(eval_mode="slide", slide={"crop": list(FRAME), "stride": [32, 64]})
        assert torch.equal(sliding.predict_logits(x), module().predict_logits(x))


def test_each_pixel_averages_the_windows_that_cover_it(tmp_path):
    """Windows (top, left) on 64×128 with crop 48, stride 32: rows 0/16, columns
    0/32/64/80. Pixel (0, 0) lies in window (0, 0) alone; pixel (20, 70) in (0, 32),
    (0, 64), (16, 32) and (16, 64)."""
    x = torch.cat([cityscapes_frame(tmp_path), torch.rand(1, 3, *FRAME)])  # a batch of 2
    net = ContextNet().eval()
    with torch.no_grad():
        got = slide_logits(net, x, CROP, STRIDE)
        assert got.shape == (2, 4, *FRAME)
        for (py, px), covering in {
            (0, 0): [(0, 0)],
            (20, 70): [(0, 32), (0, 64), (16, 32), (16, 64)],
        }.items():
            outs = [net(x[..., t : t + 48, c : c + 48])[..., py - t, px - c] for t, c in covering]
            by_hand = torch.stack(outs).mean(0)
            torch.testing.assert_close(got[..., py, px], by_hand, rtol=0, atol=1e-6)
        # the windows do disagree there: an average of one would not pass the above
        a, b = (net(x[..., 0:48, c : c + 48])[..., 20, 70 - c] for c in (32, 64))
        assert (a - b).abs().max() > 1e-3


def test_slide_composes_with_tta_flip_and_the_crf(tmp_path):
    """Each window gets the module's test-time views; the CRF refines the softmax of the
    averaged scores."""
    x = cityscapes_frame(tmp_path)
    seen = {}

    def crf(probs: Tensor, raw: Tensor) -> Tensor:
        seen["probs"], seen["raw"] = probs, raw
        return probs

    slide = {"crop": list(CROP), "stride": list(STRIDE)}
    mod = module(eval_mode="slide", slide=slide, tta_flip=True, crf=crf)
    with torch.no_grad():
        got = mod.predict_logits(x)
        covering = [(0, 32), (0, 64), (16, 32), (16, 64)]  # pixel (20, 70)
        views = [
            tta_logits(mod, x[..., t : t + 48, c : c + 48], [1.0], True)[..., 20 - t, 70 - c]
            for t, c in covering
        ]
        torch.testing.assert_close(got[..., 20, 70], torch.stack(views).mean(0), rtol=0, atol=1e-6)
        unflipped = module(eval_mode="slide", slide=slide).predict_logits(x)
        assert (got - unflipped).abs().max() > 1e-3  # the flip is in there
        raw = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        out = mod.predict_step({"image": x, "raw": raw, "name": ["f"]}, 0)
    assert torch.equal(seen["probs"], got.float().softmax(dim=1)) and seen["raw"] is raw
    assert torch.equal(out["labels"], got.argmax(dim=1))


def test_slide_rejects_a_stride_that_leaves_gaps():
    x = torch.zeros(1, 3, 64, 64)
    with pytest.raises(ValueError, match="no larger than the crop"):
        slide_logits(ContextNet(), x, (32, 32), (40, 32))


# (command line, what the one line must name)
BAD = [
    (["model.eval_mode=tiles"], "model.eval_mode='tiles'"),
    (["model.slide.crop=[0,512]"], "model.slide.crop=[0, 512]"),
    (
        ["model.eval_mode=slide", "model.slide.crop=[512,512]", "model.slide.stride=[600,256]"],
        "model.slide.stride=[600, 256] is larger than model.slide.crop=[512, 512]",
    ),
    (["model.eval_mode=slide"], "needs model.slide.crop"),
]


@pytest.mark.parametrize(("argv", "named"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_slide_values_are_one_line(argv, named, tmp_path):
    with pytest.raises(ConfigError) as caught:
        check_command_line("train", argv)
    assert named in str(caught.value) and "\n" not in str(caught.value)
    proc = run_cli("seglab-train", *argv, cwd=tmp_path, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("seglab: error: ") and named in lines[0]
    assert list(tmp_path.iterdir()) == [], "a rejected command wrote files"


def test_predict_tiles_share_the_implementation_and_its_stride():
    """seglab-predict's sliding_window: stride int(tile × (1 − overlap)); scores averaged
    by slide_logits, then the softmax; the export's hint reproduces mmseg's stride."""
    from seglab.run.exporting import sliding_note
    from seglab.run.prediction import Backend, predict_one, sliding_stride

    assert sliding_stride((128, 128), 0.33) == (85, 85)
    assert sliding_stride((769, 769), 0.3322) == (513, 513)
    assert "sliding_window=[769,769] sliding_overlap=0.3322" in sliding_note((769, 769), (513, 513))
    net = ContextNet().eval()
    raw = np.random.default_rng(0).integers(0, 255, (*FRAME, 3), dtype=np.uint8)
    backend = Backend(
        "test", net, lambda r: r.movedim(-1, -3).float() / 255, None, np.zeros((4, 3)), "cpu"
    )
    cfg = OmegaConf.create({"sliding_window": [48, 48], "sliding_overlap": 0.33})
    labels = predict_one(backend, raw, cfg)
    x = torch.from_numpy(raw)[None].movedim(-1, -3).float() / 255
    with torch.no_grad():
        expected = slide_logits(net, x, (48, 48), (32, 32)).softmax(1).argmax(1)[0].numpy()
    assert np.array_equal(labels, expected)


# -- through the real module: a checkpoint that evaluates by sliding ------------------------
@pytest.fixture(scope="module")
def sliding_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint as seglab-train writes one (the resolved config inside): the CPU
    FCN-32s at random weights (road favoured) on a generated Cityscapes tree (two 64×128
    val frames), evaluating with model.eval_mode=slide, 48×48 windows 32 apart."""
    from hydra.utils import instantiate

    from seglab.run.config import compose_config

    tmp = tmp_path_factory.mktemp("slide")
    root = write_cityscapes(tmp / "cs", per_city=1, size=FRAME)
    cfg = compose_config(
        "train",
        ["data=cityscapes", f"data.root={root}", "data.num_workers=0", "model.eval_mode=slide",
         "model.slide.crop=[48,48]", "model.slide.stride=[32,32]"],
    )  # fmt: skip
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    with torch.no_grad():  # FCN's classifier starts at zero: scores that vary, road first
        model.net.head.score.weight.normal_(0, 0.1)
        model.net.head.score.bias[0] = 1.0
    config = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("data", "model")}
    ckpt = tmp / "slide.ckpt"
    torch.save({"state_dict": model.state_dict(), "seglab": {"config": config}}, ckpt)
    return ckpt


def _evaluate(ckpt: Path, folder: Path, *args: str) -> tuple[float, float]:
    """seglab-eval's logged val/mIoU and val/loss."""
    folder.mkdir()
    run_cli("seglab-eval", f"ckpt_path={ckpt}", "logger=csv", *args, cwd=folder)
    (run,) = (folder / "outputs" / "eval").glob("*/*")
    return val_per_epoch(run)[0], val_per_epoch(run, "val/loss")[0]


def test_seglab_eval_slides_as_the_checkpoint_says_or_as_told(sliding_checkpoint, tmp_path):
    """The checkpoint's own protocol (48×48 windows) by default; eval_mode=whole, and
    mmseg's 769×769 windows (one window, shrunk to each 64×128 frame), score the same."""
    own = _evaluate(sliding_checkpoint, tmp_path / "own")
    whole = _evaluate(sliding_checkpoint, tmp_path / "whole", "eval_mode=whole")
    frame = _evaluate(
        sliding_checkpoint, tmp_path / "frame", "slide.crop=[769,769]", "slide.stride=[513,513]"
    )
    assert own[0] > 0 and frame == whole  # mIoU and loss, exactly
    assert own[1] != whole[1]  # the loss of other scores: the 48×48 windows were used


def test_predict_sliding_window_replaces_the_checkpoints_protocol(sliding_checkpoint):
    from seglab.run.prediction import pytorch_backend

    base = {"ckpt_path": str(sliding_checkpoint), "device": "cpu", "channels_last": False}
    own = pytorch_backend(OmegaConf.create({**base, "sliding_window": None}))
    told = pytorch_backend(OmegaConf.create({**base, "sliding_window": [32, 32]}))
    assert own.scores.__self__.slide == ((48, 48), (32, 32))
    assert told.scores.__self__.slide is None  # no windows inside the command line's tiles
