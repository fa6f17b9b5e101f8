"""ReNet layer (Visin et al., 2015; the building block of ReSeg, 2016).

The map is cut into non-overlapping ``patch`` × ``patch`` pieces (each flattened to one
vector), then swept by two bidirectional RNNs: along every row (left→right and
right→left), then, on that output, along every column (top→bottom and bottom→top) —
four RNNs whose outputs carry context from the whole image. The order follows the
authors' code (fvisin/reseg layers.py ``ReNetLayer``: sub-layer 0 scans ``#W`` per row,
sub-layer 1 scans ``#H`` per column on its output, ``stack_sublayers=True``).

Each sweep is one ``nn.GRU`` call batched over all rows (or columns) of all images, so
it runs as cuDNN / oneDNN kernels, not a Python loop over pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn import functional as F


class ReNet(nn.Module):
    """``in_channels`` → ``2 · hidden`` channels at 1 / ``patch`` of the resolution."""

    def __init__(self, in_channels: int, hidden: int, patch: Sequence[int] = (1, 1)) -> None:
        super().__init__()
        self.ph, self.pw = (int(patch[0]), int(patch[1]))
        self.hidden = hidden
        size = in_channels * self.ph * self.pw
        self.rows = nn.GRU(size, hidden, batch_first=True, bidirectional=True)
        self.cols = nn.GRU(2 * hidden, hidden, batch_first=True, bidirectional=True)

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
        rows, _ = self.rows(p.reshape(b * hp, wp, size))  # every row, both directions
        rows = rows.reshape(b, hp, wp, 2 * self.hidden).transpose(1, 2)
        cols, _ = self.cols(rows.reshape(b * wp, hp, 2 * self.hidden))  # every column
        cols = cols.reshape(b, wp, hp, 2 * self.hidden)
        return cols.permute(0, 3, 2, 1).contiguous()  # B × 2h × H' × W'
