"""Every model config exported to ONNX and TorchScript and compared with PyTorch
(``scripts/export_parity.py`` prints the table; ``tests/test_export.py`` checks the
hardest graphs; ``seglab.dev.bench_export`` times ``build``'s networks).

Each variant's network (random weights, perturbed so no layer is zero) is wrapped as
``seglab-export`` wraps a checkpoint's (``InferenceNet``: normalisation and test-time
views inside), exported at the first size with dynamic height and width, and run by
ONNX Runtime / TorchScript at every size. ``check`` measures, per variant: the smallest
side the network accepts, whether each file kept dynamic sizes, and max |Δ| / max
|PyTorch| at each size (limits: ``TOLERANCES``, 1e-4 ONNX, 1e-5 TorchScript). ``small``:
VGG and U-Net at 1/8 width and ResNet-50 for ResNet-101 (what the test suite runs).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from hydra.utils import instantiate

import seglab
from seglab.data.input_space import input_space
from seglab.deploy.formats import export_onnx, export_torchscript
from seglab.deploy.metadata import MARKER
from seglab.deploy.sizes import smallest_side
from seglab.models.inference import InferenceNet
from seglab.run.config import compose_config
from seglab.run.exporting import TOLERANCES, parity

# every model config, plus the variants whose graphs differ (U-Net same padding, DeepLab
# v3 without image pooling, test-time views in the graph)
VARIANTS: dict[str, list[str]] = {
    "fcn32s": ["model=fcn32s"],
    "fcn16s": ["model=fcn16s"],
    "fcn8s": ["model=fcn8s"],
    "fcn8s_atonce": ["model=fcn8s_atonce"],
    "fcn32s_tiny": ["model=fcn32s_tiny"],
    "fcn8s_camvid_cpu+tta": ["experiment=camvid_cpu", "model.tta_scales=[0.5,1.0]",
                             "model.tta_flip=true"],
    "deeplab_v1": ["model=deeplab_v1"],
    "deeplab_v2 (MSc)": ["model=deeplab_v2"],
    "deeplab_v3 (image pooling)": ["model=deeplab_v3"],
    "unet (valid)": ["model=unet"],
    "unet (same)": ["model=unet", "model.net.backbone.padding=same",
                    "model.net.head.padding=same"],
    "reseg (GRUs)": ["model=reseg"],
    "fcn_resnet50_torchvision": ["model=fcn_resnet50_torchvision"],
    "deeplabv3_resnet50_torchvision": ["model=deeplabv3_resnet50_torchvision"],
    "deeplabv3_mobilenet_v3_large": ["model=deeplabv3_mobilenet_v3_large"],
}  # fmt: skip
SMALL = {"VGG16": "model.net.backbone.width=0.125", "UNetEncoder": "model.net.backbone.width=0.125"}
FORMATS = ("onnx", "torchscript")


def build(overrides: list[str], small: bool) -> torch.nn.Module:
    """The variant's ``InferenceNet`` with random, perturbed weights, in eval mode."""
    base = ["model.net.backbone.pretrained=null", "model.init_from=null", "data=synthetic"]
    cfg = compose_config("train", [*overrides, *base])
    if small:
        backbone = cfg.model.net.backbone._target_.rsplit(".", 1)[-1]
        extra = [SMALL[backbone]] if backbone in SMALL else []
        if cfg.model.net.backbone.get("depth") == 101:
            extra.append("model.net.backbone.depth=50")
        cfg = compose_config("train", [*overrides, *base, *extra])
    torch.manual_seed(0)
    module = instantiate(cfg.model)
    with torch.no_grad():  # zero-initialised score layers would make parity trivial
        for p in module.net.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    space = input_space(cfg.data.get("input_space", "rgb_imagenet"))
    return InferenceNet(module.net, space, module.tta_scales, module.tta_flip).eval()


def check(name: str, small: bool, sizes: list[tuple[int, int]], formats: list[str]) -> dict:
    """One variant: smallest side, and per format whether it kept dynamic sizes and its
    relative difference at each size."""
    net = build(VARIANTS[name], small)
    row: dict = {"variant": name, "min_side": smallest_side(net)}
    example = torch.rand(2, 3, *sizes[0], generator=torch.Generator().manual_seed(1)) * 255
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            path = Path(tmp) / f"model.{fmt}"
            writer = export_onnx if fmt == "onnx" else export_torchscript
            meta = {MARKER: seglab.__version__, "sizes": {"min_side": row["min_side"]}}
            start = time.perf_counter()
            accepted = writer(net, path, example, True, meta)
            row[f"{fmt}_seconds"] = time.perf_counter() - start
            row[f"{fmt}_dynamic"] = not accepted.get("fixed")
            row[f"{fmt}_why"] = accepted.get("why_fixed", "")
            checked = sizes if row[f"{fmt}_dynamic"] else sizes[:1]
            row[fmt] = [r["rel_diff"] for r in parity(fmt, path, net, checked)]
    return row


def table(rows: list[dict], formats: list[str], sizes: list[tuple[int, int]]) -> str:
    """``check``'s rows as a Markdown table."""
    shown = " / ".join(f"{h}×{w}" for h, w in sizes)
    head = "| variant | min side |" + "".join(
        f" {f} dynamic | {f} max rel. Δ ({shown}) | {f} s |" for f in formats
    )
    lines = [head, "|" + "---|" * (2 + 3 * len(formats))]
    for r in rows:
        cells = [r["variant"], str(r["min_side"])]
        for f in formats:
            cells += [
                "yes" if r[f"{f}_dynamic"] else f"no ({r[f'{f}_why']})",
                " / ".join(f"{v:.1e}" for v in r[f]),
                f"{r[f'{f}_seconds']:.1f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def beyond_tolerance(rows: list[dict], formats: list[str]) -> list[str]:
    """One line per (variant, format) whose difference exceeds ``TOLERANCES``."""
    return [
        f"{r['variant']}: {f} exceeds {TOLERANCES[f]:.0e}"
        for r in rows
        for f in formats
        if max(r[f]) > TOLERANCES[f]
    ]
