"""ReNet layer (Visin et al., 2015; the building block of ReSeg, 2016).

The map is cut into non-overlapping ``patch`` × ``patch`` pieces (each flattened to one
vector), then swept by two bidirectional RNNs: along every row, then, on that output,
along every column — RNNs whose outputs carry context from the whole image. The order
follows the authors' code (fvisin/reseg layers.py ``ReNetLayer``: sub-layer 0 scans
``#W`` per row, sub-layer 1 scans ``#H`` per column on its output,
``stack_sublayers=True``).

``directions`` says how each bidirectional sweep pairs its two GRUs:

- ``stacked`` (the authors' code, layers.py ``BidirectionalRNNLayer``: ``l_backward =
  RecurrentNet(l_forward, …, backwards=True)``): the backward GRU reads the forward GRU's
  output, and the sweep returns both outputs concatenated;
- ``parallel`` (the usual bidirectional RNN, ``nn.GRU(bidirectional=True)``): both GRUs
  read the input.

The GRUs are Lasagne's (``GRULayer``): one bias per gate. PyTorch's GRU has a second
one (``bias_hh``); it is held at zero and frozen, which gives the same function
(r ⊙ (W_hn·h) with no hidden bias) and the reference's parameter count.

Each sweep is one ``nn.GRU`` call per direction batched over all rows (or columns) of
all images, so it runs as cuDNN / oneDNN kernels, not a Python loop over pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

DIRECTIONS = ("stacked", "parallel")


def lasagne_gru(gru: nn.GRU) -> nn.GRU:
    """Zero and freeze ``gru``'s hidden-to-hidden biases (Lasagne's GRU has none)."""
    for name, p in gru.named_parameters():
        if name.startswith("bias_hh"):
            nn.init.zeros_(p)
            p.requires_grad_(False)
    return gru


class BiSweep(nn.Module):
    """A bidirectional GRU over sequences (N × T × C → N × T × 2·hidden)."""

    def __init__(self, in_size: int, hidden: int, directions: str = "stacked") -> None:
        super().__init__()
        if directions not in DIRECTIONS:
            raise ValueError(
                f"model.net.head.directions must be one of {DIRECTIONS}, got {directions!r}"
            )
        self.directions, self.hidden = directions, hidden
        if directions == "parallel":
            self.gru = lasagne_gru(nn.GRU(in_size, hidden, batch_first=True, bidirectional=True))
        else:
            self.forward_gru = lasagne_gru(nn.GRU(in_size, hidden, batch_first=True))
            self.backward_gru = lasagne_gru(nn.GRU(hidden, hidden, batch_first=True))
        # read by seglab.deploy: the exported ONNX GRU's initial state keeps the example's
        # number of rows, so ONNX Runtime fails at another size; export at one size
        self.onnx_fixed_reason = (
            "ReSeg's GRUs: the ONNX GRU's initial state keeps the example's rows"
        )

    def forward(self, seq: Tensor) -> Tensor:
        if self.directions == "parallel":
            return self.gru(seq)[0]
        fwd = self.forward_gru(seq)[0]
        bwd = self.backward_gru(fwd.flip(1))[0].flip(1)  # reads fwd from the end
        return torch.cat([fwd, bwd], dim=-1)


class ReNet(nn.Module):
    """``in_channels`` → ``2 · hidden`` channels at 1 / ``patch`` of the resolution."""

    def __init__(
        self,
        in_channels: int,
        hidden: int,
        patch: Sequence[int] = (1, 1),
        directions: str = "stacked",
    ) -> None:
        super().__init__()
        self.ph, self.pw = (int(patch[0]), int(patch[1]))
        self.hidden = hidden
        size = in_channels * self.ph * self.pw
        self.rows = BiSweep(size, hidden, directions)
        self.cols = BiSweep(2 * hidden, hidden, directions)

    def patches(self, x: Tensor) -> Tensor:
        """B×C×H×W → B×H'×W'×(ph·pw·C), zero-padding H and W up to whole patches
        (the reference's order: patch row, patch column, channel)."""
        b, c, h, w = x.shape
        pad_h, pad_w = (-h) % self.ph, (-w) % self.pw
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        hp, wp = x.shape[-2] // self.ph, x.shape[-1] // self.pw
        x = x.reshape(b, c, hp, self.ph, wp, self.pw).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, hp, wp, self.ph * self.pw * c)

    def forward(self, x: Tensor) -> Tensor:
        p = self.patches(x)
        b, hp, wp, size = p.shape
        rows = self.rows(p.reshape(b * hp, wp, size))  # every row, both directions
        rows = rows.reshape(b, hp, wp, 2 * self.hidden).transpose(1, 2)
        cols = self.cols(rows.reshape(b * wp, hp, 2 * self.hidden))  # every column
        cols = cols.reshape(b, wp, hp, 2 * self.hidden)
        return cols.permute(0, 3, 2, 1).contiguous()  # B × 2h × H' × W'
