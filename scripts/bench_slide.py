"""Time and peak memory per frame of whole-frame against sliding-window evaluation.

    python scripts/bench_slide.py [--frame 512x1024 --crop 256x256 --stride 171x171]
        [--repeats 2] [--threads N]

DeepLab v3 on ResNet-50 (output stride 16, random weights) on a random frame, each mode
(``model.eval_mode=whole|slide``) in a fresh process: seconds per frame (median), img/s,
the peak resident memory the mode added over the built model and input, and the ratios
slide / whole. The bench is ``seglab.dev.bench_slide``.
"""

from __future__ import annotations

import sys

from seglab.dev.bench_slide import main

if __name__ == "__main__":
    sys.exit(main())
