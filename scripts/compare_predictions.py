"""Two seglab-predict output folders, pixel by pixel, and each against ground truth.

    python scripts/compare_predictions.py OUT_A OUT_B [--truth LABEL_DIR --classes 11 --ignore 11]

What it counts: ``seglab.dev.compare_predictions`` (this script prints its lines).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seglab.dev.compare_predictions import compare
from seglab.errors import SeglabError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--truth", type=Path)
    parser.add_argument("--classes", type=int, default=11)
    parser.add_argument("--ignore", type=int, default=11)
    args = parser.parse_args()
    try:
        lines = compare(args.a, args.b, args.truth, args.classes, args.ignore)
    except SeglabError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
