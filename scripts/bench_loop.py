"""What seglab's training loop costs per step against a bare PyTorch loop.

    python scripts/bench_loop.py [--workloads fcn8s deeplab_v2 default] [--steps 30]
                                 [--warmup 5] [--repeats 3] [--data-root ../shared/data/camvid]
                                 [OVERRIDE ...]

Each workload (``fcn8s`` and ``deeplab_v2``: the CPU ablation's, ``experiment=ablation_cpu_base
+ablation=<name> crf=off`` on CamVid; ``default``: ``seglab-train`` with no overrides, on
generated data) trains the same net, loss, optimizer, batch size, data loader and steps
two ways, alternating over the repeats: seglab-train's own training path in this process
(callbacks, checkpoints, CSV and offline W&B loggers; validation off) and a bare PyTorch
loop (forward, loss, zero_grad, backward, step). Prints the machine, then per workload the
median img/s of each, the ratio seglab / bare and the split of seglab's step (forward,
backward, optimizer, the rest), then both loops' ms per step by part. How each number is
taken is printed with them. The bench is ``seglab.dev.bench_loop``.
"""

from __future__ import annotations

from seglab.dev.bench_loop import main

if __name__ == "__main__":
    main()
