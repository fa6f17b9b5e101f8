"""ReSeg (Visin et al., CVPR Workshops 2016): ReNet layers on a backbone's features,
transposed-convolution upsampling back to the input, a 1×1 conv to the classes.

The paper's CamVid network (fvisin/reseg evaluate_camvid.py): VGG16 up to conv3_3
(stride 4), two ReNet layers of 100 GRU units with 1×1 patches, two 2×2 stride-2
transposed convolutions of 50 filters with ReLU, cropped to the input, 1×1 to classes.
On any other backbone the number of ×2 upsampling layers follows the feature's stride.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from seglab.models.geometry import Geometry
from seglab.models.heads.common import feature_channels
from seglab.models.heads.fcn import crop_if_covered
from seglab.models.renet import ReNet


class ReSegHead(nn.Module):
    """``hidden``: GRU units per ReNet layer; ``patches``: each layer's patch (h, w);
    ``up_channels``: filters of each ×2 transposed conv (one value for all);
    ``directions``: ``stacked`` (the authors' bidirectional sweep: the backward GRU reads
    the forward GRU's output) or ``parallel`` (both read the input; see ``ReNet``)."""

    def __init__(
        self,
        channels: dict[str, int],
        geometry: dict[str, Geometry],
        num_classes: int,
        feature: str = "out",
        hidden: Sequence[int] = (100, 100),
        patches: Sequence[Sequence[int]] = ((1, 1), (1, 1)),
        up_channels: int = 50,
        directions: str = "stacked",
    ) -> None:
        super().__init__()
        in_ch = feature_channels(channels, feature, "reseg")
        if len(patches) != len(hidden):
            raise ValueError(
                f"model.net.head.patches {list(patches)} needs one (h, w) per ReNet layer "
                f"(hidden={list(hidden)})"
            )
        self.feature, self.geo = feature, geometry[feature]
        self.renets = nn.ModuleList()
        stride = self.geo.stride
        for h, patch in zip(hidden, patches):
            if patch[0] != patch[1]:
                raise ValueError(f"model.net.head.patches: square patches only, got {patch}")
            self.renets.append(ReNet(in_ch, int(h), patch, directions))
            in_ch, stride = 2 * int(h), stride * patch[0]
            self.geo = self.geo.through(patch[0], patch[0])  # non-overlapping patches
        n_up = math.log2(stride)
        if n_up != int(n_up):
            raise ValueError(
                f"ReSeg upsamples by x2 steps: the ReNet output's stride {stride} is not a "
                "power of two"
            )
        layers: list[nn.Module] = []
        for _ in range(int(n_up)):
            layers += [nn.ConvTranspose2d(in_ch, up_channels, 2, stride=2), nn.ReLU(inplace=True)]
            in_ch = up_channels
            self.geo = self.geo.upsampled(2, 2)
        self.upsample = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(in_ch, num_classes, 1)

    def forward(self, features: dict[str, Tensor], size: tuple[int, int] | None = None) -> Tensor:
        x = features[self.feature]
        for renet in self.renets:
            x = renet(x)
        # the reference crops the upsampled map to the input, then scores it
        return self.classifier(crop_if_covered(self.upsample(x), self.geo, size))
