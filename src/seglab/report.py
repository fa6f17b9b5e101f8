"""``seglab-report <sweep folder>``: one table and two plots for a sweep, from local files.

Reads every job folder of a sweep (``config_resolved.yaml``, ``.hydra/hydra.yaml``,
``csv/metrics.csv``, ``checkpoints/last.ckpt``), needs no network, and writes into the
sweep folder (or ``--out``):

* ``report.md``: model, backbone, output stride, CRF, best val mIoU, val mIoU with the
  CRF, per-class IoU at the best epoch, parameters, GFLOPs per image at the data's input
  size, training img/s, epochs;
* ``val_miou.png``: val mIoU per epoch, one line per job;
* ``ablation.png``: best val mIoU per job, with the CRF's beside it where one ran.

``--wandb`` also logs the table as a ``wandb.Table`` (offline unless WANDB_MODE=online).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seglab.errors import SeglabError


@dataclass
class Job:
    name: str
    model: str
    backbone: str
    output_stride: str
    crf: str
    epochs: list[int] = field(default_factory=list)
    val_miou: list[float] = field(default_factory=list)
    val_miou_crf: list[float] = field(default_factory=list)
    class_iou: dict[str, float] = field(default_factory=dict)
    img_per_s: float | None = None
    params: int | None = None
    gflops: float | None = None
    minutes: float | None = None

    @property
    def best(self) -> float | None:
        return max(self.val_miou) if self.val_miou else None

    @property
    def best_crf(self) -> float | None:
        return max(self.val_miou_crf) if self.val_miou_crf else None


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
    )
    best_row: dict[str, str] | None = None
    for row in _rows(folder):
        if row.get("val/mIoU"):
            value = float(row["val/mIoU"])
            job.epochs.append(int(float(row["epoch"])))
            job.val_miou.append(value)
            if best_row is None or value > float(best_row["val/mIoU"]):
                best_row = row
        if row.get("val/mIoU_crf"):
            job.val_miou_crf.append(float(row["val/mIoU_crf"]))
        if row.get("train/img_per_s"):
            job.img_per_s = float(row["train/img_per_s"])
    if best_row:
        job.class_iou = {  # val_iou/<class> (val/IoU/<class> in runs before 2026-11)
            k.split("/")[-1]: float(v)
            for k, v in best_row.items()
            if k.startswith(("val_iou/", "val/IoU/")) and v not in ("", None)
        }
    job.params, job.gflops, measured_stride = _size(config, folder)
    if measured_stride:  # the rebuilt backbone's own geometry (U-Net, ReSeg, truncated VGG)
        job.output_stride = measured_stride
    job.minutes = _minutes(folder)
    return job


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

    net_config = copy.deepcopy(config["model"]["net"])
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


def markdown(jobs: list[Job]) -> str:
    classes = list(dict.fromkeys(c for j in jobs for c in j.class_iou))
    head = [
        "job", "model", "backbone", "OS", "CRF", "best val mIoU", "val mIoU + CRF",
        "params (M)", "GFLOPs", "train img/s", "epochs", "minutes", *classes,
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for j in jobs:
        cells = [
            j.name,
            j.model,
            j.backbone,
            j.output_stride,
            j.crf,
            _fmt(j.best),
            _fmt(j.best_crf),
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    curves = out / "val_miou.png"
    fig, ax = plt.subplots(figsize=(10, 5))
    for j in jobs:
        if j.val_miou:
            ax.plot(j.epochs, j.val_miou, marker="o", label=f"{j.name}: {j.model}, crf={j.crf}")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("val mIoU")
    ax.set_title("val mIoU per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(curves, dpi=120)
    plt.close(fig)

    bars = out / "ablation.png"
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(jobs)), 5))
    xs = range(len(jobs))
    has_crf = any(j.best_crf is not None for j in jobs)
    width = 0.4 if has_crf else 0.6
    plain = [j.best or 0 for j in jobs]
    ax.bar([x - (width / 2 if has_crf else 0) for x in xs], plain, width, label="no CRF")
    ax.set_ylim(0, max([*plain, *(j.best_crf or 0 for j in jobs)]) * 1.12 or 1)
    if has_crf:
        refined = [j.best_crf or 0 for j in jobs]
        ax.bar([x + width / 2 for x in xs], refined, width, label="with CRF")
    shift = width / 2 if has_crf else 0
    for x, j in zip(xs, jobs):
        for dx, value in ((-shift, j.best), (shift, j.best_crf if has_crf else None)):
            if value is not None:
                ax.text(x + dx, value, f"{value:.3f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([f"{j.name}\n{j.model}" for j in jobs], fontsize=8)
    ax.set_ylabel("best val mIoU")
    ax.set_title("ablation: best val mIoU per job")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(bars, dpi=120)
    plt.close(fig)
    return [curves, bars]


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
    table = markdown(jobs)
    (out / "report.md").write_text(f"# Sweep {args.sweep.name}\n\n{table}")
    written = [out / "report.md", *plots(jobs, out)]
    print(table)
    if args.wandb:
        written.append(Path(log_to_wandb(jobs, out)))
    print("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
