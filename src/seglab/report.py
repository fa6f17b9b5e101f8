"""``seglab-report <sweep folder>``: tables and plots for a sweep, from local files.

Reads every job folder of a sweep (``config_resolved.yaml``, ``.hydra/hydra.yaml``,
``csv/metrics.csv``, ``run_info.yaml``), needs no network, and writes into the sweep
folder (or ``--out``):

* ``report.md``:
  - one row per *cell* (jobs whose configs differ only by ``seed``): val mIoU (best
    epoch), val mIoU with the CRF (same checkpoint), test mIoU without and with the CRF
    (best checkpoint, where the job tested), each as mean ± sample std over the seeds;
  - comparisons for the papers' questions (FCN-16s vs 32s, 8s vs 16s, DeepLab vs FCN-8s,
    CRF on vs off): the difference of means, its standard error and whether it exceeds
    twice that;
  - one row per job: model, backbone, output stride, CRF, the figures above, per-class
    IoU at the best epoch, parameters, GFLOPs per image at the data's input size,
    training img/s, minutes;
* ``val_miou.png``: train loss per epoch (mean ± std band per cell) and val mIoU at
  each validation, one line per job;
* ``ablation.png``: mean val (and test) mIoU per cell with ± std error bars, CRF beside.

``--wandb`` also logs the job table as a ``wandb.Table`` (offline unless WANDB_MODE=online).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seglab.errors import SeglabError
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
    job.minutes = _minutes(folder)
    return job


def cell_key(config: dict, choices: dict[str, str]) -> str:
    """What a job trains, without its seed: the comparable config (no paths, ids,
    loggers) and the Hydra choices, minus ``seed`` and the data's copy of it."""
    comparable = comparable_config(config)
    comparable.pop("seed", None)
    if isinstance(comparable.get("data"), dict):
        comparable["data"].pop("seed", None)
    return json.dumps({"config": comparable, "choices": choices}, sort_keys=True, default=str)


def _minutes(folder: Path) -> float | None:
    """Wall time from start to finish (run_info.yaml), for a job that finished in one go."""
    import datetime

    path = folder / "run_info.yaml"
    if not path.is_file():
        return None
    info = yaml.safe_load(path.read_text())
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


@dataclass
class Comparison:
    question: str
    metric: str
    difference: float
    stderr: float | None

    @property
    def significant(self) -> bool | None:
        """Whether the difference exceeds twice its standard error (about 95%)."""
        return None if self.stderr is None else abs(self.difference) > 2 * self.stderr


def difference_of_means(a: list[float], b: list[float]) -> tuple[float, float | None]:
    """mean(a) - mean(b) and its standard error sqrt(s_a^2/n_a + s_b^2/n_b) (Welch)."""
    diff = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return diff, None
    return diff, math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))


def paired_difference(a: list[float], b: list[float]) -> tuple[float, float | None]:
    """mean(a_i - b_i) and its standard error s_d / sqrt(n): the CRF's gain is measured on
    the same checkpoints, so the pairs share each seed's noise."""
    diffs = [x - y for x, y in zip(a, b)]
    if len(diffs) < 2:
        return statistics.fmean(diffs), None
    return statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))


# (model A, model B, question): A - B where both are in the sweep (ablation variant names)
QUESTIONS = [
    ("fcn16s", "fcn32s", "FCN-16s vs FCN-32s (the pool4 skip)"),
    ("fcn8s", "fcn16s", "FCN-8s vs FCN-16s (the pool3 skip)"),
    ("fcn16s_staged", "fcn16s", "staged vs at-once FCN-16s"),
    ("fcn8s_staged", "fcn8s", "staged vs at-once FCN-8s"),
    ("deeplab_v1", "fcn8s", "DeepLab v1 (LargeFOV) vs FCN-8s"),
    ("deeplab_v2", "fcn8s", "DeepLab v2 (ASPP) vs FCN-8s"),
    ("deeplab_v3", "fcn8s", "DeepLab v3 (ASPP + image pooling) vs FCN-8s"),
    ("deeplab_v2", "deeplab_v1", "DeepLab v2 vs v1 (ASPP vs one rate)"),
    ("deeplab_v3", "deeplab_v2", "DeepLab v3 vs v2"),
    ("unet", "fcn8s", "U-Net vs FCN-8s"),
    ("reseg", "fcn8s", "ReSeg vs FCN-8s"),
]


def comparisons(cells: list[Cell]) -> list[Comparison]:
    by_model: dict[str, list[Cell]] = {}
    for cell in cells:
        by_model.setdefault(cell.jobs[0].model, []).append(cell)
    found: list[Comparison] = []
    for a, b, question in QUESTIONS:
        if len(by_model.get(a, [])) != 1 or len(by_model.get(b, [])) != 1:
            continue  # absent, or ambiguous (several cells of one model)
        ca, cb = by_model[a][0], by_model[b][0]
        for metric in ("val", "test"):
            va, vb = ca.values(metric), cb.values(metric)
            if va and vb:
                found.append(Comparison(question, metric, *difference_of_means(va, vb)))
    for cell in cells:  # CRF on vs off, paired by job
        for metric in ("val", "test"):
            pairs = [(j.metric(metric + "_crf"), j.metric(metric)) for j in cell.jobs]
            pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
            if pairs:
                with_crf, without = zip(*pairs)
                diff, se = paired_difference(list(with_crf), list(without))
                found.append(Comparison(f"{cell.label}: CRF on vs off", metric, diff, se))
    return found


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


def comparisons_markdown(found: list[Comparison]) -> str:
    if not found:
        return "(no pair of the papers' questions is in this sweep)\n"
    lines = ["| question | split | difference of means | standard error | > 2 SE |",
             "|---|---|---|---|---|"]  # fmt: skip
    for c in found:
        se = "" if c.stderr is None else f"{c.stderr:.4f}"
        verdict = {None: "n/a (one seed)", True: "yes", False: "no"}[c.significant]
        lines.append(f"| {c.question} | {c.metric} | {c.difference:+.4f} | {se} | {verdict} |")
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


def plots(jobs: list[Job], out: Path) -> list[Path]:
    """``val_miou.png`` (learning curves) and ``ablation.png`` (mean ± std bars)."""
    import matplotlib

    matplotlib.use("Agg")
    curves, bars = out / "val_miou.png", out / "ablation.png"
    _plot_curves(jobs, curves)
    _plot_bars(jobs, bars)
    return [curves, bars]


def _plot_curves(jobs: list[Job], curves: Path) -> None:
    """Train loss per epoch (mean ± std over each cell's seeds) and every job's val mIoU."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (loss_ax, ax) = plt.subplots(1, 2, figsize=(14, 5))
    for cell in group_by_seed(jobs):  # train loss: mean over the cell's seeds, ± std band
        epochs = sorted({e for j in cell.jobs for e in j.train_loss})
        stats = [Stat.of([j.train_loss[e] for j in cell.jobs if e in j.train_loss]) for e in epochs]
        if not epochs:
            continue
        means = [st.mean for st in stats]
        stds = [st.std or 0.0 for st in stats]
        (line,) = loss_ax.plot(
            epochs, means, marker=".", label=f"{cell.label} (n={len(cell.jobs)})"
        )
        loss_ax.fill_between(epochs, [m - d for m, d in zip(means, stds)],
                             [m + d for m, d in zip(means, stds)], alpha=0.2,
                             color=line.get_color())  # fmt: skip
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("train loss (epoch mean)")
    loss_ax.set_title("train loss per epoch, mean ± std over seeds")
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=7)
    for j in jobs:
        if j.val_miou:
            seed = "" if j.seed is None else f", seed {j.seed}"
            ax.plot(j.epochs, j.val_miou, marker="o", label=f"{j.name}: {j.model}{seed}")
    for axis in (loss_ax, ax):
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mIoU")
    ax.set_title("val mIoU at each validation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(curves, dpi=120)
    plt.close(fig)


def _plot_bars(jobs: list[Job], bars: Path) -> None:
    """Each cell's mIoU per metric (val, val + CRF, test …), mean ± std over seeds."""
    import matplotlib.pyplot as plt

    cells = group_by_seed(jobs)
    shown = [m for m in METRICS if any(c.values(m) for c in cells)]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(cells) * len(shown) + 2), 5))
    width = 0.8 / len(shown)
    top = 0.0
    for k, metric in enumerate(shown):
        stats = [c.stat(metric) for c in cells]
        xs = [i + (k - (len(shown) - 1) / 2) * width for i in range(len(cells))]
        means = [st.mean if st else 0.0 for st in stats]
        errs = [st.std or 0.0 if st else 0.0 for st in stats]
        ax.bar(xs, means, width, yerr=errs, capsize=3, label=METRICS[metric])
        for x, st in zip(xs, stats):
            if st:
                ax.text(x, st.mean + (st.std or 0), f"{st.mean:.3f}", ha="center",
                        va="bottom", fontsize=6)  # fmt: skip
        top = max(top, *(m + e for m, e in zip(means, errs)))
    ax.set_ylim(0, top * 1.15 or 1)
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([f"{c.label}\n(n={len(c.jobs)})" for c in cells], fontsize=8)
    ax.set_ylabel("mIoU (mean ± std over seeds)")
    ax.set_title("ablation: mIoU per model, mean ± std over seeds")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(bars, dpi=120)
    plt.close(fig)


def log_to_wandb(jobs: list[Job], out: Path) -> str:
    import wandb

    columns = ["job", "model", "backbone", "output_stride", "crf", "best_val_miou",
               "val_miou_crf", "params", "gflops", "train_img_per_s"]  # fmt: skip
    table = wandb.Table(columns=columns)
    for j in jobs:
        table.add_data(j.name, j.model, j.backbone, j.output_stride, j.crf, j.best,
                       j.best_crf, j.params, j.gflops, j.img_per_s)  # fmt: skip
    mode = "online" if os.environ.get("WANDB_MODE") == "online" else "offline"
    run = wandb.init(project="seglab", job_type="report", name=f"report-{out.name}",
                     group=out.name, dir=str(out), mode=mode)  # fmt: skip
    run.log({"ablation": table})
    path = run.dir
    run.finish()
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="seglab-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a seglab-train -m sweep folder")
    parser.add_argument("--out", type=Path, help="where to write (default: the sweep folder)")
    parser.add_argument("--wandb", action="store_true", help="also log the table to W&B")
    args = parser.parse_args(argv)
    try:
        if not args.sweep.is_dir():
            raise SeglabError(f"{args.sweep} is not a folder: give a sweep folder")
        jobs = [read_job(f) for f in job_folders(args.sweep)]
    except SeglabError as exc:
        print(f"seglab-report: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    out = args.out or args.sweep
    out.mkdir(parents=True, exist_ok=True)
    cells = group_by_seed(jobs)
    table = (
        "## Models (mean ± sample std over seeds)\n\n" + cells_markdown(cells)
        + "\n## The papers' questions (difference of means, standard error)\n\n"
        + comparisons_markdown(comparisons(cells))
        + "\n## Jobs\n\n" + markdown(jobs)
    )  # fmt: skip
    (out / "report.md").write_text(f"# Sweep {args.sweep.name}\n\n{table}")
    written = [out / "report.md", *plots(jobs, out)]
    print(table)
    if args.wandb:
        written.append(Path(log_to_wandb(jobs, out)))
    print("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
