"""What every backbone shares: BatchNorm momentum and freezing (``FreezableBN``)."""

from __future__ import annotations

import logging

from torch import nn

log = logging.getLogger(__name__)

_NORM = nn.modules.batchnorm._BatchNorm


def set_bn_momentum(module: nn.Module, momentum: float | None, key: str) -> None:
    """Every BN's momentum in ``module`` (PyTorch's convention: 1 − TensorFlow's decay;
    DeepLab v3's 0.9997 is 0.0003); null keeps PyTorch's 0.1. ``key`` names the config
    value in the error."""
    if momentum is None:
        return
    if not 0.0 < momentum <= 1.0:
        raise ValueError(f"{key} must be in (0, 1] or null, got {momentum}")
    for m in module.modules():
        if isinstance(m, _NORM):
            m.momentum = momentum


class FreezableBN(nn.Module):
    """A backbone whose BatchNorm, or whole self, can be frozen.

    ``freeze_bn``: running statistics kept (BN layers stay in eval mode whatever
    ``train()`` is called with) and BN weights out of the optimizer
    (``requires_grad=False``), as DeepLab v2 trains ResNet-101 at batch 10
    (kazuto1011/deeplab-pytorch main.py ``model.module.base.freeze_bn()``).
    ``freeze``: every parameter out of the optimizer and the whole trunk in eval mode
    (BN statistics kept, dropout off), as ReSeg's ImageNet VGG16 up to conv3_3
    (fvisin/reseg vgg16.py, ``Vgg16Layer(..., trainable=False)``)."""

    freeze_bn: bool = False
    frozen: bool = False

    def _freeze(self, freeze_bn: bool, whole: bool, pretrained: str | None) -> None:
        self.freeze_bn, self.frozen = freeze_bn or whole, whole
        if whole and not pretrained:
            log.warning(
                "model.net.backbone.freeze=true without model.net.backbone.pretrained: the "
                "randomly initialised trunk will never train; give weights or set freeze=false"
            )
        if whole:
            self.requires_grad_(False)
        elif freeze_bn:
            for m in self.modules():
                if isinstance(m, _NORM):
                    m.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> FreezableBN:
        super().train(mode)
        if self.frozen:
            for m in self.modules():
                if m is not self:
                    m.eval()
        elif self.freeze_bn:
            for m in self.modules():
                if isinstance(m, _NORM):
                    m.eval()
        return self
