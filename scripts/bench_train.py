"""Training throughput of seglab's models against the same architectures in torchvision.

    python scripts/bench_train.py [--size 256 256] [--batch 4] [--steps 3] [--repeats 3]
    python scripts/bench_train.py --fast-paths [MODEL] [--compile]

For each pair, seglab's model (built from its Hydra config) and torchvision's are timed
alternately in one process, a few training steps each (forward, cross-entropy with the
auxiliary loss where the model has one, backward, SGD step), over several repeats; the
medians and the seglab/torchvision ratio are printed, with GFLOPs per image (forward, from
torch's FlopCounterMode) and, on a GPU, peak memory.

``--fast-paths`` times one seglab model (default: the MobileNetV3 DeepLab v3) in fp32
against each fast path seglab configures (``trainer.precision=bf16-mixed`` /
``16-mixed``, ``channels_last=true``, ``compile=true`` with ``--compile``), alternating
in one process, and prints img/s and the speed-up over fp32. The benches are
``seglab.dev.bench_train``.
"""

from __future__ import annotations

from seglab.dev.bench_train import main

if __name__ == "__main__":
    main()
