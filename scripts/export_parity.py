"""Export every model config to ONNX and TorchScript and compare with PyTorch.

    python scripts/export_parity.py [--small] [--variants fcn8s deeplab_v2 …]
                                    [--formats onnx torchscript] [--sizes 97x131 120x152]

Each variant's network (random weights, perturbed so no layer is zero) is wrapped as
``seglab-export`` wraps a checkpoint's (``InferenceNet``: normalisation and test-time
views inside), exported at the first size with dynamic height and width, and run by
ONNX Runtime / TorchScript at every size. Prints, per variant: the smallest side the
network accepts, whether each file kept dynamic sizes, and max |Δ| / max |PyTorch| at
each size (limits: 1e-4 ONNX, 1e-5 TorchScript). ``--small``: VGG and U-Net at 1/8
width and ResNet-50 for ResNet-101 (what the test suite runs). The checks are
``seglab.dev.export_parity``.
"""

from __future__ import annotations

import argparse
import sys

from seglab.dev.export_parity import FORMATS, VARIANTS, beyond_tolerance, check, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=list(FORMATS))
    parser.add_argument("--sizes", nargs=2, default=["97x131", "120x152"])
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes]
    rows = []
    for name in args.variants:
        rows.append(check(name, args.small, sizes, args.formats))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(table(rows, args.formats, sizes))
    worst = beyond_tolerance(rows, args.formats)
    for line in worst:
        print(line, file=sys.stderr)
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
