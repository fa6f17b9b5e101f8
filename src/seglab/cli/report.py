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
* ``val_miou.png``, ``ablation.png``, ``forest.png``: see ``seglab.reporting.plots``.

``--wandb`` also logs the job and question tables and the figures to one W&B run
(offline unless WANDB_MODE=online).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seglab.errors import SeglabError
from seglab.reporting import replication
from seglab.reporting.replication import comparisons  # noqa: F401 (the report's API)
from seglab.run.machine import describe, fingerprint
from seglab.run.sweeps import comparable_config
from seglab.tracking import names


@dataclass
class Job:
    name: str
    model: str
    backbone: str
    output_stride: str
    crf: str
    epochs: list[int] = field(default_factory=list)  # 1-based, as train.log counts
    train_loss: dict[int, float] = field(default_factory=dict)  # epoch -> train/loss_epoch
    val_miou: list[float] = field(default_factory=list)
    class_iou: dict[str, float] = field(default_factory=dict)
    img_per_s: float | None = None
    params: int | None = None
    gflops: float | None = None
    minutes: float | None = None
    seed: int | None = None
    cell: str = ""  # the config without the seed: jobs with equal cells are repeats
    best_crf: float | None = None  # val mIoU with the CRF at the best epoch
    test: float | None = None  # test mIoU of the best checkpoint
    test_crf: float | None = None
    machine: dict = field(default_factory=dict)  # run_info.yaml's machine (run.machine)
    fingerprint: str = "unknown"  # what must match for seeds to be pooled
    # wall seconds per part (train, val, val_crf, test, test_crf) over the job's phases
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def best(self) -> float | None:
        return max(self.val_miou) if self.val_miou else None

    def metric(self, name: str) -> float | None:
        return {"val": self.best, "val_crf": self.best_crf, "test": self.test,
                "test_crf": self.test_crf}[name]  # fmt: skip


def job_folders(sweep: Path) -> list[Path]:
    folders = sorted(
        (p for p in sweep.iterdir() if (p / "config_resolved.yaml").is_file()),
        key=lambda p: (len(p.name), p.name),
    )
    if not folders:
        raise SeglabError(
            f"{sweep} holds no seglab job folders (sub-folders with config_resolved.yaml): "
            "give the folder of a seglab-train -m sweep, e.g. multirun/<date>/<time>_<token>."
        )
    return folders


def _choices(folder: Path) -> dict[str, str]:
    hydra_file = folder / ".hydra" / "hydra.yaml"
    if not hydra_file.is_file():
        return {}
    hydra = yaml.safe_load(hydra_file.read_text())["hydra"]
    return {k: str(v) for k, v in hydra["runtime"]["choices"].items()}


def _rows(folder: Path) -> list[dict[str, str]]:
    path = folder / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _describe_backbone(net: dict) -> tuple[str, str]:
    backbone = net.get("backbone", {})
    name = str(backbone.get("_target_", "?")).rsplit(".", 1)[-1]
    if "depth" in backbone:
        name = f"{name}{backbone['depth']}"
    if backbone.get("width", 1) != 1:
        name = f"{name} ×{backbone['width']}"
    return name, str(backbone.get("output_stride") or 32)


def read_job(folder: Path) -> Job:
    config = yaml.safe_load((folder / "config_resolved.yaml").read_text())
    choices = _choices(folder)
    net = config["model"].get("net", {})
    backbone, stride = _describe_backbone(net)
    head = choices.get("model/head")
    # an ablation job is named by its variant; otherwise model config (+ head)
    model = choices.get("ablation") or choices.get("model", "?") + (f" ({head})" if head else "")
    job = Job(
        name=folder.name,
        model=model,
        backbone=backbone,
        output_stride=stride,
        crf=choices.get("crf", "off"),
        seed=config.get("seed"),
        cell=cell_key(config, choices),
    )
    best_row: dict[str, str] | None = None
    val_miou = names.miou("val")
    for row in _rows(folder):
        if row.get(val_miou):
            value = float(row[val_miou])
            job.epochs.append(int(float(row[names.EPOCH])) + 1)
            job.val_miou.append(value)
            if best_row is None or value > float(best_row[val_miou]):
                best_row = row
        if row.get(names.TRAIN_LOSS_EPOCH):
            epoch = int(float(row[names.EPOCH])) + 1
            job.train_loss[epoch] = float(row[names.TRAIN_LOSS_EPOCH])
        if row.get(names.TRAIN_IMG_PER_S):
            job.img_per_s = float(row[names.TRAIN_IMG_PER_S])
        if row.get(names.miou("test")):
            job.test = float(row[names.miou("test")])
        if row.get(names.miou("test", crf=True)):
            job.test_crf = float(row[names.miou("test", crf=True)])
    if best_row and best_row.get(names.miou("val", crf=True)):
        job.best_crf = float(best_row[names.miou("val", crf=True)])
    if best_row:  # val_iou/<class> (val/IoU/<class> in runs before 2026-11)
        prefixes = (names.class_iou_prefix("val"), "val/IoU/")
        job.class_iou = {
            k.split("/")[-1]: float(v)
            for k, v in best_row.items()
            if k.startswith(prefixes) and v not in ("", None)
        }
    job.params, job.gflops, measured_stride = _size(config, folder)
    if measured_stride:  # the rebuilt backbone's own geometry (U-Net, ReSeg, truncated VGG)
        job.output_stride = measured_stride
    path = folder / "run_info.yaml"
    info = (yaml.safe_load(path.read_text()) if path.is_file() else None) or {}
    job.minutes = _minutes(info)
    job.machine, job.fingerprint = _machine(info, folder.name)
    job.seconds = _seconds(info)
    return job


def _seconds(info: dict) -> dict[str, float]:
    """The job's time split, summed over its finished phases."""
    total: dict[str, float] = {}
    for phase in info.get("phases") or []:
        for part, value in (phase.get("seconds") or {}).items():
            total[part] = total.get(part, 0.0) + float(value)
    return total


def _machine(info: dict, name: str) -> tuple[dict, str]:
    """The job's machine and its fingerprint; a job resumed on another machine kind gets
    a fingerprint of its own ("mixed"), so it pools with nothing."""
    recorded = info.get("machine") or {}
    mark = fingerprint(recorded)
    if info.get("other_machines"):
        mark = f"mixed ({name}): " + mark
    return recorded, mark


def cell_key(config: dict, choices: dict[str, str]) -> str:
    """What a job trains, without its seed: the comparable config (no paths, ids,
    loggers) and the Hydra choices, minus ``seed`` and the data's copy of it."""
    comparable = comparable_config(config)
    comparable.pop("seed", None)
    if isinstance(comparable.get("data"), dict):
        comparable["data"].pop("seed", None)
    return json.dumps({"config": comparable, "choices": choices}, sort_keys=True, default=str)


def _minutes(info: dict) -> float | None:
    """Wall time from start to finish, for a job that finished in one go."""
    import datetime

    if not info.get("finished") or info.get("resumed"):
        return None
    fmt = "%Y-%m-%d %H:%M:%S"
    start = datetime.datetime.strptime(info["started"], fmt)
    end = datetime.datetime.strptime(info["finished"], fmt)
    return (end - start).total_seconds() / 60


def _size(config: dict, folder: Path) -> tuple[int | None, float | None, str | None]:
    """Parameters, GFLOPs of one forward pass at the data's input size and the backbone's
    output stride, from the network rebuilt from the config (no weights loaded)."""
    import copy

    from hydra.utils import instantiate

    from seglab.models.size import network_size

    net_config = copy.deepcopy(config["model"].get("net") or {})
    if "_target_" not in net_config:
        return None, None, None
    if "pretrained" in net_config.get("backbone", {}):
        net_config["backbone"]["pretrained"] = None  # no download for a count
    data = config.get("data", {})
    size = data.get("crop_size") or data.get("image_size")
    try:
        net = instantiate(net_config).eval()
    except Exception as exc:  # e.g. a model class this install lacks: leave cells empty
        print(f"seglab-report: {folder.name}: cannot rebuild the network ({exc})", file=sys.stderr)
        return None, None, None
    geometry = getattr(getattr(net, "backbone", None), "geometry", {})
    stride = f"{geometry['out'].stride:g}" if "out" in geometry else None
    params, gflops = network_size(net, size)
    return params, gflops, stride


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


METRICS = {"val": "val mIoU", "val_crf": "val mIoU + CRF", "test": "test mIoU",
           "test_crf": "test mIoU + CRF"}  # fmt: skip


@dataclass
class Stat:
    """Mean, sample standard deviation (n-1) and count of one metric over seeds."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat | None:
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else None
        return cls(statistics.fmean(values), std, len(values))

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f}" if self.std is not None else f"{self.mean:.4f}"


@dataclass
class Cell:
    """Jobs that differ only by seed (one cell of the ablation table)."""

    label: str
    jobs: list[Job]

    @property
    def seeds(self) -> list[int | None]:
        return [j.seed for j in self.jobs]

    def values(self, metric: str) -> list[float]:
        return [v for j in self.jobs if (v := j.metric(metric)) is not None]

    def stat(self, metric: str) -> Stat | None:
        return Stat.of(self.values(metric))


def group_by_seed(jobs: list[Job]) -> list[Cell]:
    """Cells in sweep order; a label is the job's model, plus the crf choice when cells
    of one model differ by it, plus the first job's name when they still collide."""
    cells: dict[str, Cell] = {}
    for j in jobs:
        cells.setdefault(j.cell, Cell(j.model, [])).jobs.append(j)
    result = list(cells.values())
    for cell in result:
        same = [c for c in result if c.jobs[0].model == cell.jobs[0].model]
        if len(same) > 1 and len({c.jobs[0].crf for c in same}) == len(same):
            cell.label = f"{cell.jobs[0].model}, crf={cell.jobs[0].crf}"
        elif len(same) > 1:
            cell.label = f"{cell.jobs[0].model} [{cell.jobs[0].name}]"
    return result


def cells_markdown(cells: list[Cell]) -> str:
    shown = [m for m in METRICS if any(c.values(m) for c in cells)]
    head = ["model", "seeds", *(METRICS[m] for m in shown), "params (M)", "train img/s",
            "minutes / job"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        first = c.jobs[0]
        rates = [j.img_per_s for j in c.jobs if j.img_per_s is not None]
        minutes = [j.minutes for j in c.jobs if j.minutes is not None]
        cells_ = [
            c.label,
            ", ".join(str(s) for s in c.seeds),
            *(str(c.stat(m) or "") for m in shown),
            "" if first.params is None else f"{first.params / 1e6:.2f}",
            _fmt(statistics.fmean(rates), 1) if rates else "",
            _fmt(statistics.fmean(minutes), 1) if minutes else "",
        ]
        lines.append("| " + " | ".join(cells_) + " |")
    return "\n".join(lines) + "\n"


TIME_PARTS = {"train": "train", "val": "val", "val_crf": "val CRF", "test": "test",
              "test_crf": "test CRF"}  # fmt: skip


def time_split_markdown(cells: list[Cell]) -> str:
    """Mean seconds per job of each part, and evaluation's share of the job's time."""
    shown = [p for p in TIME_PARTS if any(p in j.seconds for c in cells for j in c.jobs)]
    if not shown:
        return "(the jobs recorded no time split: run before seglab recorded it)\n"
    head = ["model", *(f"{TIME_PARTS[p]} (s)" for p in shown), "evaluation share"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        timed = [j for j in c.jobs if j.seconds]
        if not timed:
            continue
        means = {p: statistics.fmean(j.seconds.get(p, 0.0) for j in timed) for p in shown}
        total = sum(means.values())
        share = (total - means.get("train", 0.0)) / total if total else 0.0
        lines.append("| " + " | ".join([c.label, *(f"{means[p]:.1f}" for p in shown),
                                        f"{share:.1%}"]) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


def markdown(jobs: list[Job]) -> str:
    classes = list(dict.fromkeys(c for j in jobs for c in j.class_iou))
    head = [
        "job", "model", "seed", "backbone", "OS", "CRF", "best val mIoU", "val mIoU + CRF",
        "test mIoU", "test mIoU + CRF", "params (M)", "GFLOPs", "train img/s", "val epochs",
        "minutes", *classes,
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for j in jobs:
        cells = [
            j.name,
            j.model,
            "" if j.seed is None else str(j.seed),
            j.backbone,
            j.output_stride,
            j.crf,
            _fmt(j.best),
            _fmt(j.best_crf),
            _fmt(j.test),
            _fmt(j.test_crf),
            "" if j.params is None else f"{j.params / 1e6:.2f}",
            "" if j.gflops is None else f"{j.gflops:.3g}",
            _fmt(j.img_per_s, 2),
            str(len(j.val_miou)),
            _fmt(j.minutes, 1),
            *(_fmt(j.class_iou.get(c), 3) for c in classes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def check_machines(cells: list[Cell], pool: bool) -> list[str]:
    """Seeds pool only within one machine fingerprint: a cell that mixes machines is an
    error unless ``pool`` (``--pool-machines``); cells from different machines compared
    with each other give a warning (returned)."""
    for cell in cells:
        seen = {j.fingerprint for j in cell.jobs}
        if len(seen) > 1 and not pool:
            by = {f: [j.name for j in cell.jobs if j.fingerprint == f] for f in seen}
            listing = "; ".join(f"jobs {', '.join(v)}: {k}" for k, v in by.items())
            raise SeglabError(
                f"cell {cell.label} pools seeds run on {len(seen)} different machines "
                f"({listing}). The same seed gives other numbers on another machine: rerun "
                "those seeds on one machine kind, or pass --pool-machines to pool them anyway."
            )
    kinds = {j.fingerprint for c in cells for j in c.jobs}
    if len(kinds) > 1:
        return [f"cells ran on {len(kinds)} different machines: differences between them "
                "mix model and machine (see 'Machines')"]  # fmt: skip
    return []


def machines_markdown(jobs: list[Job]) -> str:
    by: dict[str, list[Job]] = {}
    for j in jobs:
        by.setdefault(j.fingerprint, []).append(j)
    lines = ["| machine | jobs |", "|---|---|"]
    for group in by.values():
        described = describe(group[0].machine)
        if group[0].fingerprint.startswith("mixed"):
            described = "resumed on another machine: " + described
        lines.append(f"| {described} | {', '.join(j.name for j in group)} |")
    return "\n".join(lines) + "\n"


def plots(cells: list[Cell], found: list[replication.Comparison], out: Path) -> list[Path]:
    from seglab.reporting import plots as figures

    return [
        figures.learning_curves(cells, out / "val_miou.png"),
        figures.ablation_bars(cells, out / "ablation.png"),
        figures.forest(found, out / "forest.png"),
    ]


def log_to_wandb(jobs: list[Job], found: list[replication.Comparison], images: list[Path],
                 out: Path) -> str:  # fmt: skip
    """The job and question tables and the figures, as one W&B run of job type report."""
    import wandb

    columns = ["job", "model", "seed", "backbone", "output_stride", "crf", "best_val_miou",
               "val_miou_crf", "params", "gflops", "train_img_per_s", "machine"]  # fmt: skip
    table = wandb.Table(columns=columns)
    for j in jobs:
        row = [j.name, j.model, j.seed, j.backbone, j.output_stride, j.crf, j.best, j.best_crf,
               j.params, j.gflops, j.img_per_s, describe(j.machine)]  # fmt: skip
        table.add_data(*row)
    questions = wandb.Table(columns=["question", "split", "ours", "low", "high", "seeds",
                                     "published", "verdict", "seeds_for_80pct_power"])  # fmt: skip
    for c in found:
        low, high = c.interval or (None, None)
        questions.add_data(c.question, c.metric, c.difference, low, high, c.result.n,
                           c.published.fraction if c.published else None, c.verdict,
                           c.seeds_needed)  # fmt: skip
    mode = "online" if os.environ.get("WANDB_MODE") == "online" else "offline"
    run = wandb.init(project="seglab", job_type="report", name=f"report-{out.name}",
                     group=out.name, dir=str(out), mode=mode)  # fmt: skip
    run.log({"ablation": table, "questions": questions,
             **{f"plots/{p.stem}": wandb.Image(str(p)) for p in images}})  # fmt: skip
    path = run.dir
    run.finish()
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="seglab-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a seglab-train -m sweep folder")
    parser.add_argument("--out", type=Path, help="where to write (default: the sweep folder)")
    parser.add_argument("--wandb", action="store_true",
                        help="also log the tables and figures to W&B")  # fmt: skip
    parser.add_argument("--published", type=Path, default=replication.PUBLISHED_FILE,
                        help="the questions and published effects (default: seglab's)")  # fmt: skip
    parser.add_argument("--pool-machines", action="store_true",
                        help="pool seeds run on different machines into one cell")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if not args.sweep.is_dir():
            raise SeglabError(f"{args.sweep} is not a folder: give a sweep folder")
        jobs = [read_job(f) for f in job_folders(args.sweep)]
        cells = group_by_seed(jobs)
        warnings = check_machines(cells, args.pool_machines)
        questions = replication.load_questions(args.published)
    except SeglabError as exc:
        print(f"seglab-report: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for warning in warnings:
        print(f"seglab-report: warning: {warning}", file=sys.stderr)
    out = args.out or args.sweep
    out.mkdir(parents=True, exist_ok=True)
    found = comparisons(cells, questions)
    table = (
        "## Models (mean ± sample std over seeds)\n\n" + cells_markdown(cells)
        + "\n## Replication: the papers' questions beside the published effects\n\n"
        + REPLICATION_NOTE + replication.markdown(found)
        + "\n## Where the time went (mean seconds per job)\n\n" + time_split_markdown(cells)
        + "\n## Machines\n\n" + machines_markdown(jobs)
        + "\n## Jobs\n\n" + markdown(jobs)
    )  # fmt: skip
    (out / "report.md").write_text(f"# Sweep {args.sweep.name}\n\n{table}")
    images = plots(cells, found, out)
    written = [out / "report.md", *images]
    print(table)
    if args.wandb:
        written.append(Path(log_to_wandb(jobs, found, images, out)))
    print("wrote " + ", ".join(str(p) for p in written))


REPLICATION_NOTE = (
    "Ours: difference of means A − B over seeds with a t-based 95% interval (Welch; paired "
    "for the CRF's gain on the same checkpoints). Published: the paper's effect on the "
    "0-1 scale. Verdict: *agrees* (our interval holds the published effect and excludes "
    "the opposite sign), *contradicts* (it lies wholly on the other side of zero), "
    "*underpowered* (it holds both zero and the published effect); *same sign, "
    "larger/smaller* and *smaller, holds 0* where it excludes the published effect. "
    "Seeds for 80% power: seeds per cell a two-sided t-test at 5% needs to detect the "
    "published effect given our spread over seeds. The papers trained on VOC with "
    "ImageNet weights: a verdict says whether an effect's direction and size carry "
    "over to this recipe, not whether a number is reproduced.\n\n"
)


if __name__ == "__main__":
    main()
