"""Parameters and GFLOPs of a network at an input size (the W&B config, seglab-report)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def network_size(net: nn.Module, size: int | Sequence[int] | None) -> tuple[int, float | None]:
    """Parameter count, and GFLOPs of one forward pass of a 3-channel image of ``size``
    (eval mode, no gradient; the module's mode is restored)."""
    params = sum(p.numel() for p in net.parameters())
    if not size:
        return params, None
    size = [size, size] if isinstance(size, int) else list(size)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(torch.zeros(1, 3, *size))
    finally:
        net.train(was_training)
    return params, counter.get_total_flops() / 1e9
