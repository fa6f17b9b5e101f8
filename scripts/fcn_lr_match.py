"""The learning rate that carries FCN's Caffe solver over to torchvision's convention.

    python scripts/fcn_lr_match.py [--size 188 250] [--pixels 187500]

The reference solvers (fcn.berkeleyvision.org voc-fcn*/solver.prototxt: lr 1e-10 /
1e-12 / 1e-14, momentum 0.99, weight decay 5e-4) sum the loss over pixels and feed BGR
images in 0-255 minus the mean pixel. The torchvision flavour averages the loss over
labelled pixels and feeds RGB in [0, 1] normalised by mean / std. This script measures,
on one FCN-32s (VGG16, random weights, score layer made non-zero so every layer gets a
gradient) and one generated image, one SGD step under each convention:

1. the net in Caffe's convention, and the same function in torchvision's: conv1_1's
   input channels reordered and scaled by 255 · std (the mean used here is Caffe's mean
   pixel in RGB / 255, so zero padding means the same pixel in both; ImageNet's mean
   differs from it by under one grey level), checked by comparing the logits;
2. one step from zero momentum with the Caffe solver, and one with lr × N and weight
   decay / N under the averaged loss (N = labelled pixels of the image);
3. per layer, the torchvision step's size relative to the Caffe step's (both relative to
   the layer's weights).

It prints the ratios (1 everywhere but conv1_1's weights, whose input is 255 · std
smaller) and the learning rates for an image of ``--pixels`` labelled pixels (VOC's
typical 500 x 375 image: 187,500). The measurement is ``seglab.dev.fcn_lr_match``.
"""

from __future__ import annotations

import argparse

from seglab.dev.fcn_lr_match import report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[188, 250])
    parser.add_argument("--pixels", type=int, default=187_500)
    args = parser.parse_args()
    for line in report(args.size, args.pixels):
        print(line, flush=True)


if __name__ == "__main__":
    main()
