"""Training throughput of an ablation's variants, side by side in one process.

    python scripts/bench_ablation.py [--experiment ablation_all_cpu] [--variants fcn8s unet reseg]
                                     [--modes fp32 bf16 cl bf16+cl] [--steps 3] [--repeats 3]

Each variant's network is built from the experiment's config with ``+ablation=<variant>``
and timed for a few training steps (forward, the module's training loss, backward,
optimizer step) on random images at the experiment's crop and batch size; the variants
alternate over the repeats, so a busy machine slows all of them alike. Prints the median
img/s, its ratio to the first variant, parameters and forward GFLOPs per image.

``--modes`` times every variant in several numeric modes, side by side: ``fp32``, ``bf16``
(``torch.autocast`` to bfloat16 around forward and loss, as Lightning's ``bf16-mixed``),
``cl`` (channels_last weights and inputs) and ``bf16+cl``; the table then gives each
mode's img/s and its ratio to the first mode, per variant. The bench is
``seglab.dev.bench_ablation``.
"""

from __future__ import annotations

import argparse

from seglab.dev.bench_ablation import MODES, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="ablation_all_cpu")
    parser.add_argument("--variants", nargs="+", default=["fcn8s", "unet", "reseg"])
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=["fp32"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="config overrides for every variant")
    args = parser.parse_args()
    for line in report(args.experiment, args.variants, args.modes, args.steps, args.repeats,
                       args.overrides):  # fmt: skip
        print(line)


if __name__ == "__main__":
    main()
