"""``seglab-report <sweep folder>``: tables and plots for a sweep, from local files.

Reads every job folder of a sweep (``config_resolved.yaml``, ``.hydra/hydra.yaml``,
``csv/metrics.csv``, ``run_info.yaml``), needs no network, and writes into the sweep
folder (or ``--out``):

* ``report.md``:
  - one row per *cell* (jobs whose configs differ only by ``seed``): val mIoU (best
    epoch), val mIoU with the CRF (same checkpoint), test mIoU without and with the CRF
    (best checkpoint, where the job tested), each as mean ± sample std over the seeds;
  - the papers' questions (FCN-16s vs 32s, 8s vs 16s, DeepLab vs FCN-8s, CRF on vs off;
    ``seglab/reporting/published.yaml``): our difference with its 95% interval beside
    the published effect and its source, a verdict (agrees, contradicts, underpowered …)
    and the seeds per cell that 80% power needs (``seglab.reporting.replication``);
  - the machines the jobs ran on (seeds pool only within one machine kind unless
    ``--pool-machines``);
  - one row per job: model, backbone, output stride, CRF, the figures above, per-class
    IoU at the best epoch, parameters, GFLOPs per image at the data's input size,
    training img/s, minutes;
* with ``--baseline OTHER_SWEEP``, a section "Against the baseline": per model, this
  sweep's mean against the other's with a Welch 95% interval of the difference, and
  whether it shows better, worse or no change (``seglab.reporting.baseline``);
* ``val_miou.png``, ``ablation.png``, ``forest.png``: see ``seglab.reporting.plots``.

``--wandb`` also logs the job and question tables and the figures to one W&B run
(offline unless WANDB_MODE=online).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seglab.errors import SeglabError
from seglab.reporting import baseline, replication
from seglab.reporting.cells import Cell, check_machines, group_by_seed
from seglab.reporting.jobs import read_sweep
from seglab.reporting.plots import write_figures
from seglab.reporting.tables import report_markdown
from seglab.reporting.wandb_report import log_to_wandb


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seglab-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a seglab-train -m sweep folder")
    parser.add_argument("--out", type=Path, help="where to write (default: the sweep folder)")
    parser.add_argument("--wandb", action="store_true",
                        help="also log the tables and figures to W&B")  # fmt: skip
    parser.add_argument("--published", type=Path, default=replication.PUBLISHED_FILE,
                        help="the questions and published effects (default: seglab's)")  # fmt: skip
    parser.add_argument("--pool-machines", action="store_true",
                        help="pool seeds run on different machines into one cell")  # fmt: skip
    parser.add_argument("--baseline", type=Path, metavar="OTHER_SWEEP",
                        help="an earlier sweep of the same models: each model's mean "
                        "against the baseline's, with a 95%% interval of their difference",
                        )  # fmt: skip
    return parser


def _against(
    sweep: Path | None, cells: list[Cell], pool: bool, warnings: list[str]
) -> tuple[str, str] | None:
    """The baseline section's title and markdown, or None without ``--baseline``."""
    if sweep is None:
        return None
    other = group_by_seed(read_sweep(sweep))
    warnings += [f"baseline {sweep}: {w}" for w in check_machines(other, pool)]
    return sweep.name, baseline.markdown(baseline.shifts(cells, other, sweep.name), cells,
                                         other, sweep.name)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        jobs = read_sweep(args.sweep)
        cells = group_by_seed(jobs)
        warnings = check_machines(cells, args.pool_machines)
        questions = replication.load_questions(args.published)
        against = _against(args.baseline, cells, args.pool_machines, warnings)
    except SeglabError as exc:
        print(f"seglab-report: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for warning in warnings:
        print(f"seglab-report: warning: {warning}", file=sys.stderr)
    out = args.out or args.sweep
    out.mkdir(parents=True, exist_ok=True)
    found = replication.comparisons(cells, questions)
    table = report_markdown(jobs, cells, found, against)
    (out / "report.md").write_text(f"# Sweep {args.sweep.name}\n\n{table}")
    images = write_figures(cells, found, out)
    written = [out / "report.md", *images]
    print(table)
    if args.wandb:
        written.append(Path(log_to_wandb(jobs, found, images, out)))
    print("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
