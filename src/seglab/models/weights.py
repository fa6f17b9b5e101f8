"""Pretrained weights and staged initialisation.

``pretrained: imagenet`` takes torchvision's ImageNet weights through torch.hub's cache
(``$TORCH_HOME/hub/checkpoints``): present there, nothing is downloaded; missing and
offline, the error names the file to place there. ``pretrained: <path>`` loads a file.
``init_from`` copies every tensor whose name and shape match from an earlier checkpoint
(FCN-16s from FCN-32s, FCN-8s from FCN-16s) and reports what was loaded and what is new.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from seglab.errors import SeglabError

log = logging.getLogger(__name__)

IMAGENET_WEIGHTS = {
    "vgg16": "VGG16_Weights.IMAGENET1K_V1",
    "vgg16_bn": "VGG16_BN_Weights.IMAGENET1K_V1",
    "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
    "resnet101": "ResNet101_Weights.IMAGENET1K_V1",
    "mobilenet_v3_large": "MobileNet_V3_Large_Weights.IMAGENET1K_V1",
}


def imagenet_state_dict(arch: str) -> dict[str, Tensor]:
    """torchvision's ImageNet weights for ``arch``, from the hub cache or downloaded."""
    weights = torchvision.models.get_weight(IMAGENET_WEIGHTS[arch])
    hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
    target = hub_dir / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=True, check_hash=False)
    except Exception as exc:  # URLError, socket errors, HTTP errors, corrupt partial files
        raise SeglabError(
            f"could not get the ImageNet weights for {arch} ({exc}). Offline, download "
            f"{weights.url} elsewhere and place it at {target} (or set TORCH_HOME), or give "
            "a file: model.net.backbone.pretrained=/path/to/weights.pth"
        ) from None


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise SeglabError(
            f"weights file {file} does not exist (model.net.backbone.pretrained / "
            "model.init_from). Give an existing file, or pretrained=imagenet."
        )
    try:
        obj = torch.load(file, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise SeglabError(f"cannot read weights file {file}: {exc}") from None
    if isinstance(obj, dict) and "state_dict" in obj:  # a Lightning checkpoint
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise SeglabError(f"{file} holds a {type(obj).__name__}, not a state dict")
    return obj


def _vgg_to_seglab(module: nn.Module, sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """torchvision VGG16 (``features.N``, ``classifier.0/3``) → seglab ``VGG16`` names:
    convs and BNs matched in order, fc6/fc7 reshaped from linear layers to convolutions."""
    ours = [
        (n, m)
        for n, m in module.stages.named_modules()
        if isinstance(m, nn.Conv2d | nn.BatchNorm2d)
    ]
    theirs = sorted({int(k.split(".")[1]) for k in sd if k.startswith("features.")})
    mapped = {}
    for (name, m), idx in zip(ours, theirs):
        for key in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            src = f"features.{idx}.{key}"
            if src in sd and hasattr(m, key):
                mapped[f"stages.{name}.{key}"] = sd[src]
    if module.fc is not None:
        convs = [(n, m) for n, m in module.fc.named_children() if isinstance(m, nn.Conv2d)]
        for (name, conv), src in zip(convs, ("classifier.0", "classifier.3")):
            w = sd.get(f"{src}.weight")
            if w is not None and w.numel() == conv.weight.numel():
                mapped[f"fc.{name}.weight"] = w.view_as(conv.weight)
                mapped[f"fc.{name}.bias"] = sd[f"{src}.bias"]
    return mapped


# DeepLab v2's Caffe ResNet-101 as converted by kazuto1011/deeplab-pytorch (convert.py;
# libs/models/resnet.py and deeplabv2.py name the modules): an optional ``base.`` (its
# MSC wrapper) or ``module.`` (DataParallel) prefix, then
#   layer1.conv1.{conv.weight, bn.*}                                  the stem
#   layer{2..5}.block{i}.{reduce, conv3x3, increase, shortcut}.{conv.weight, bn.*}
#   aspp.c{j}.{weight, bias}                                          the ASPP classifier
# (older versions: ``proj`` for ``shortcut``, ``aspp.stages.c{j}``).
_MSRA_UNITS = {
    "reduce": "conv1|bn1",
    "conv3x3": "conv2|bn2",
    "increase": "conv3|bn3",
    "shortcut": "downsample.0|downsample.1",
    "proj": "downsample.0|downsample.1",
}
_MSRA_KEY = re.compile(r"^layer(\d)\.block(\d+)\.(\w+)\.(conv|bn)\.(\w+)$")
_MSRA_STEM = re.compile(r"^layer1\.conv1\.(conv|bn)\.(\w+)$")
_MSRA_ASPP = re.compile(r"^aspp\.(?:stages\.)?c(\d+)\.(weight|bias)$")
# the classifier of kazuto1011's DeepLab v1 container, which its converter saves the
# COCO-initialised DeepLab v2 model through (91 classes): never seglab's head
_MSRA_CLASSIFIER = re.compile(r"^fc\.(weight|bias)$")


def is_msra_layout(sd: dict[str, Tensor]) -> bool:
    """Whether ``sd`` is in the DeepLab v2 (kazuto1011) layout."""
    return any(_MSRA_KEY.match(_strip(k)) for k in sd)


def _strip(key: str) -> str:
    for prefix in ("module.", "base."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def msra_to_torchvision(sd: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """A DeepLab v2 Caffe-converted state dict → (torchvision ResNet names, ASPP tensors
    as ``aspp.c{j}.weight|bias``). A classifier ``fc.*`` (the authors' COCO-initialised
    file as the port's converter saves it) is skipped with one log line naming it; any
    other key raises a ``SeglabError`` listing them."""
    backbone, aspp, unknown, classifier = {}, {}, [], {}
    for key, value in sd.items():
        name = _strip(key)
        if _MSRA_CLASSIFIER.match(name):
            classifier[key] = value
        elif m := _MSRA_STEM.match(name):
            backbone[f"{'conv1' if m[1] == 'conv' else 'bn1'}.{m[2]}"] = value
        elif (m := _MSRA_KEY.match(name)) and m[3] in _MSRA_UNITS and 2 <= int(m[1]) <= 5:
            conv, bn = _MSRA_UNITS[m[3]].split("|")
            unit = conv if m[4] == "conv" else bn
            backbone[f"layer{int(m[1]) - 1}.{int(m[2]) - 1}.{unit}.{m[5]}"] = value
        elif m := _MSRA_ASPP.match(name):
            aspp[f"aspp.c{m[1]}.{m[2]}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise SeglabError(
            f"{len(unknown)} key(s) of the DeepLab v2 weights file are not in the accepted "
            f"layout (docs/guides/recipes.md, 'Weights files'): {_listed(unknown)}"
        )
    if classifier:
        shapes = ", ".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in classifier.items())
        classes = next(iter(classifier.values())).shape[0]
        log.info(
            "skipped %d tensor(s) of the DeepLab v2 weights file: %s, a %d-class classifier "
            "(the COCO-initialised model's); the head is trained from scratch",
            len(classifier), shapes, classes,
        )  # fmt: skip
    return backbone, aspp


def _listed(keys: list[str], n: int = 10) -> str:
    return ", ".join(keys[:n]) + (f" … ({len(keys)} in all)" if len(keys) > n else "")


def load_pretrained(module: nn.Module, spec: str, arch: str) -> dict[str, Tensor]:
    """Load ``spec`` (``imagenet`` or a file) into a backbone built for ``arch``; returns
    the source state dict (for tensors a head may take, e.g. LargeFOV's fc6/fc7 or a
    DeepLab v2 file's ASPP).

    A file must fill the whole backbone: a missing or wrongly shaped tensor is an error
    that lists them. Tensors the backbone has no place for (ImageNet's fc8, VGG16 layers
    past a truncated trunk) are listed in the log."""
    source = imagenet_state_dict(arch) if spec == "imagenet" else read_state_dict(spec)
    sd = source
    if arch.startswith("vgg16") and any(k.startswith("features.") for k in sd):
        sd = _vgg_to_seglab(module, sd)
    elif arch.startswith("resnet") and is_msra_layout(sd):
        if getattr(module, "style", "torchvision") != "msra":
            raise SeglabError(
                f"{spec} holds DeepLab v2's MSRA ResNet (Caffe conversion); its geometry "
                "differs from torchvision's: set model.net.backbone.style=msra"
            )
        sd, aspp = msra_to_torchvision(sd)
        source = {**sd, **aspp}
    report = load_matching(module, sd)
    log.info("pretrained %s (%s): %s", arch, spec, report.summary())
    if not report.loaded:
        raise SeglabError(f"no tensor of {spec} fits the {arch} backbone: wrong file?")
    if spec != "imagenet":
        missing = [k for k in report.new if not k.endswith("num_batches_tracked")]
        if missing or report.mismatched:
            raise SeglabError(
                f"weights file {spec} does not fill the {arch} backbone "
                f"(model.net.backbone.pretrained): missing {_listed(missing) or 'none'}; "
                f"wrong shape {_listed(report.mismatched) or 'none'}. Give a file in the "
                "layout docs/guides/recipes.md 'Weights files' describes, at this "
                "backbone's width."
            )
    module.pretrained_report = report
    return source


def decimate_vgg_fc(sd: dict[str, Tensor], fc6: nn.Conv2d, fc7: nn.Conv2d) -> dict[str, Tensor]:
    """ImageNet VGG16's fc6 (4096×512×7×7) and fc7 (4096×4096) subsampled to a smaller
    fc6/fc7 pair, as DeepLab-LargeFOV's initialisation (Chen et al., ICLR 2015, §4.1:
    "we spatially subsample (by simple decimation) the first FC layer"; 4096 → 1024
    channels): every ``4096 // hidden``-th filter of fc6 and fc7 (and input channel of
    fc7), and fc6's spatial taps at a step of ``6 // (kernel - 1)`` (0, 3, 6 for 3×3).

    Returns ``{"fc6.weight", "fc6.bias", "fc7.weight", "fc7.bias"}``; raises ``ValueError``
    when the shapes do not allow a decimation (the message says which)."""
    w6, b6 = sd["classifier.0.weight"], sd["classifier.0.bias"]
    w7, b7 = sd["classifier.3.weight"], sd["classifier.3.bias"]
    hidden, in_ch, k = fc6.out_channels, fc6.in_channels, fc6.kernel_size[0]
    src_out, src_in = w6.shape[0], 512
    if w6.numel() != src_out * src_in * 49 or w7.shape != (src_out, src_out):
        raise ValueError(f"fc6 {tuple(w6.shape)} / fc7 {tuple(w7.shape)} are not VGG16's")
    if in_ch != src_in or src_out % hidden or k < 2 or 6 % (k - 1) or fc7.out_channels != hidden:
        raise ValueError(
            f"cannot decimate VGG16's fc6 (4096×512×7×7) to {hidden}×{in_ch}×{k}×{k}: needs "
            "512 input channels (width 1), a hidden size dividing 4096 and a kernel of 2, 3, 4 or 7"
        )
    c, s = src_out // hidden, 6 // (k - 1)
    return {
        "fc6.weight": w6.view(src_out, src_in, 7, 7)[::c, :, ::s, ::s].clone(),
        "fc6.bias": b6[::c].clone(),
        "fc7.weight": w7[::c, ::c].reshape(hidden, hidden, 1, 1).clone(),
        "fc7.bias": b7[::c].clone(),
    }


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{len(self.loaded)} tensors loaded, {len(self.new)} new"
        if self.mismatched:
            text += f", {len(self.mismatched)} skipped for shape ({', '.join(self.mismatched[:5])})"
        if self.new:
            text += f"; new: {', '.join(self.new[:8])}{' …' if len(self.new) > 8 else ''}"
        return text


def load_matching(module: nn.Module, sd: dict[str, Tensor], prefix: str = "") -> LoadReport:
    """Copy every tensor of ``sd`` whose name (after ``prefix``) and shape match."""
    own = module.state_dict()
    report = LoadReport()
    wanted = {}
    for key, value in sd.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if name not in own:
            report.unused.append(name)
        elif own[name].shape != value.shape:
            report.mismatched.append(name)
        else:
            wanted[name] = value
    module.load_state_dict(wanted, strict=False)
    report.loaded = sorted(wanted)
    report.new = sorted(k for k in own if k not in wanted)
    return report


def init_from_checkpoint(net: nn.Module, path: str) -> LoadReport:
    """Staged training: start ``net`` from a checkpoint of an earlier stage."""
    sd = read_state_dict(path)
    prefix = "net." if any(k.startswith("net.") for k in sd) else ""
    report = load_matching(net, sd, prefix)
    if not report.loaded:
        raise SeglabError(f"model.init_from={path}: no tensor matches this model by name and shape")
    log.info("model.init_from=%s: %s", path, report.summary())
    return report


def from_torchvision(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a torchvision segmentation model's state dict (``fcn_resnet50``,
    ``deeplabv3_resnet50``, ``deeplabv3_mobilenet_v3_large``) to seglab's ``Segmenter``."""
    out = {}
    mobilenet = any(k.startswith("backbone.0.") for k in sd)
    for key, value in sd.items():
        if key.startswith("classifier."):
            key = "head." + key[len("classifier.") :]
        elif key.startswith("aux_classifier."):
            key = "aux_head." + key[len("aux_classifier.") :]
        elif mobilenet and key.startswith("backbone."):
            key = "backbone.features." + key[len("backbone.") :]
        out[key] = value
    return out
