"""The permutohedral lattice (Adams, Baek & Davis 2010) in PyTorch, as sparse matrices.

Gaussian filtering in a d-dimensional feature space (here x, y, r, g, b) is splat →
blur → slice: each point spreads its value onto the d+1 vertices of its enclosing
simplex (barycentric weights), each of the d+1 lattice axes is blurred with [½ 1 ½],
and the values are read back with the same weights. This is the algorithm and the
arithmetic of pydensecrf's ``permutohedral.cpp`` (same elevation, rounding, ranks,
barycentric weights, blur and the ``1/(1+2^-d)`` scale), so one filter agrees with
pydensecrf's to float precision.

Instead of a hash table, lattice vertices are integer keys packed into int64 codes and
made unique with ``torch.unique``; splat, the d+1 blurs and slice become sparse CSR
matrices, built once per image batch and applied with sparse×dense products on any
device. Points carry a group id (the image index), so a batch shares one lattice but
no value crosses images.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """A CSR matrix (torch's "beta" warning silenced: the layout is stable for mm)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


class Permutohedral:
    """A lattice over ``features`` (N×d float, already divided by the kernel widths).

    ``filter(values N×C)`` returns about Σ_j exp(−|f_i − f_j|²/2) · values_j, the point
    itself included (as pydensecrf). ``groups`` (N ints) keeps sets of points apart, e.g.
    the images of a batch.
    """

    def __init__(self, features: Tensor, groups: Tensor | None = None) -> None:
        n, d = features.shape
        device = features.device
        self.d = d
        self.scale = 1.0 / (1.0 + 2.0 ** (-d))  # pydensecrf's "alpha"
        elevated, rem0, rank = self._simplex(features)
        # vertex keys are rem0 ± d; codes pack them into int64 digits with room for the
        # ±d neighbour steps of the blur; the group id is one more digit
        columns = torch.cat([rem0[:, :d]] + ([] if groups is None else [groups[:, None]]), 1)
        margin = 2 * d + 1
        self._low = columns.amin(0) - margin
        self._span = columns.amax(0) + margin - self._low + 1
        if groups is not None:
            self._low[d], self._span[d] = 0, int(groups.max()) + 1
        if float(self._span.double().log2().sum()) >= 62:
            raise ValueError(
                "permutohedral lattice keys do not fit in int64: the features span too "
                "large a range (are the kernel widths in pixels / intensity levels?)"
            )
        self._radix = torch.cumprod(torch.cat([self._span.new_ones(1), self._span[:-1]]), 0)
        codes, barycentric = self._vertices(elevated, rem0, rank, groups)
        self.codes, vertex = torch.unique(codes, return_inverse=True)
        m = self.m = len(self.codes)

        # slice: N×M, row i = point i's d+1 vertices; splat is its transpose (M×N)
        crow = torch.arange(0, n * (d + 1) + 1, d + 1, device=device)
        self.slice = _csr(crow, vertex.reshape(-1), barycentric.reshape(-1), (n, m))
        by_vertex = torch.argsort(vertex.reshape(-1), stable=True)
        crow = torch.zeros(m + 1, dtype=torch.long, device=device)
        crow[1:] = torch.bincount(vertex.reshape(-1), minlength=m).cumsum(0)
        self.splat = _csr(crow, by_vertex // (d + 1), barycentric.reshape(-1)[by_vertex], (m, n))
        # blur along each axis: [½ 1 ½] over the neighbours key − 1 everywhere but + d on
        # the axis, and its opposite (the group digit never moves). Codes are linear in
        # the keys and the margins keep each step inside its digit, so a neighbour's code
        # is the code plus a constant; the opposite neighbour is found by inverting.
        own = torch.arange(m, device=device)
        crow = torch.arange(0, 3 * m + 1, 3, device=device)
        half = torch.full((m,), 0.5, device=device)
        self.blurs = []
        for axis in range(d + 1):
            step = -int(self._radix[:d].sum())
            if axis < d:
                step += (d + 1) * int(self._radix[axis])
            wanted = self.codes + step
            index = torch.searchsorted(self.codes, wanted).clamp_max(m - 1)
            found = self.codes[index] == wanted
            before = torch.where(found, index, own)  # absent: a zero on the diagonal
            after = own.clone()
            after[index[found]] = own[found]  # v is the opposite neighbour of before(v)
            has_after = torch.zeros(m, dtype=torch.bool, device=device)
            has_after[index[found]] = True
            cols = torch.stack([own, before, after], 1).reshape(-1)
            values = torch.stack([torch.ones_like(half), half * found, half * has_after], 1)
            self.blurs.append(_csr(crow, cols, values.reshape(-1), (m, m)))

    def filter(self, values: Tensor) -> Tensor:
        """``values`` N×C → N×C."""
        grid = self.splat @ values
        for blur in self.blurs:
            grid = blur @ grid
        return (self.slice @ grid) * self.scale

    def _simplex(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Elevated points, their nearest 0-coloured lattice point and the rank of each
        coordinate's remainder (Adams et al. 2010, pp. 5–10)."""
        f = features.float()
        n, d = f.shape
        # elevate onto the hyperplane Σx = 0 in d+1 dimensions (E·f)
        i = torch.arange(1, d + 1, device=f.device, dtype=torch.float64)
        cf = f * (math.sqrt(2.0 / 3.0) * (d + 1) / torch.sqrt(i * (i + 1))).float()
        suffix = cf.flip(1).cumsum(1).flip(1)  # suffix[:, k] = Σ_{j≥k} cf_j
        elevated = torch.empty(n, d + 1, device=f.device)
        elevated[:, 0] = suffix[:, 0]
        elevated[:, 1:] = torch.cat([suffix[:, 1:], cf.new_zeros(n, 1)], 1) - i.float() * cf
        # nearest multiple of d+1 per coordinate
        v = elevated / (d + 1)
        up, down = torch.ceil(v) * (d + 1), torch.floor(v) * (d + 1)
        rem0 = torch.where(up - elevated < elevated - down, up, down)
        total = (rem0.sum(1) / (d + 1)).round().long()
        # rank of each remainder, largest first; ties in index order (as pydensecrf)
        order = torch.argsort(rem0 - elevated, dim=1, stable=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(d + 1, device=f.device).expand_as(order))
        rank = rank + total[:, None]
        low, high = rank < 0, rank > d  # back onto the plane
        rank = torch.where(low, rank + d + 1, torch.where(high, rank - d - 1, rank))
        rem0 = torch.where(low, rem0 + d + 1, torch.where(high, rem0 - d - 1, rem0))
        return elevated, rem0.long(), rank

    def _vertices(
        self, elevated: Tensor, rem0: Tensor, rank: Tensor, groups: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Codes (N×(d+1)) of each point's simplex vertices, key = rem0 + canonical[r,
        rank] with canonical[r, k] = r − (d+1)·[rank_k > d − r], and the barycentric
        weights (N×(d+1))."""
        d = self.d
        v = (elevated - rem0) / (d + 1)
        bary = elevated.new_zeros(len(elevated), d + 2)
        bary.scatter_add_(1, d - rank, v)
        bary.scatter_add_(1, d - rank + 1, -v)
        bary[:, 0] += 1.0 + bary[:, d + 1]
        radix = self._radix[:d]
        base = ((rem0[:, :d] - self._low[:d]) * radix).sum(1)
        if groups is not None:
            base = base + groups * self._radix[d]
        r = torch.arange(d + 1, device=elevated.device)
        above = rank[:, None, :d] > (d - r)[None, :, None]  # N×(d+1)×d
        codes = base[:, None] + r * int(radix.sum()) - (d + 1) * (above * radix).sum(2)
        return codes, bary[:, : d + 1]
