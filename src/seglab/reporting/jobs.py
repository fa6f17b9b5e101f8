"""A sweep's job folders read into ``Job`` records, from local files only: the report
needs no network and no W&B, just what ``seglab-train`` leaves in each folder
(``config_resolved.yaml``, ``.hydra/hydra.yaml``, ``csv/metrics.csv``, ``run_info.yaml``)."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from seglab.errors import SeglabError
from seglab.run.machine import fingerprint
from seglab.run.sweeps import comparable_config
from seglab.tracking import names


@dataclass
class Job:
    """One job folder as the report needs it: what it trained and how well it did."""

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


def read_sweep(sweep: Path) -> list[Job]:
    """Every job of a sweep folder, in job order."""
    if not sweep.is_dir():
        raise SeglabError(f"{sweep} is not a folder: give a sweep folder")
    return [read_job(f) for f in job_folders(sweep)]


def job_folders(sweep: Path) -> list[Path]:
    """The sweep's job folders in job number order (10 after 9)."""
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
    """A job folder's config, Hydra choices, metrics (best val epoch, test), network size
    and run record."""
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
    loggers) and the Hydra choices, minus ``seed`` and the data's copy of it, and minus
    Hydra's own groups (``hydra/launcher``, ``hydra/help`` …: how a job was launched or
    documented, not what it trains; seeds added to a sweep after an upgrade that changed
    one still pool with the earlier ones)."""
    comparable = comparable_config(config)
    comparable.pop("seed", None)
    if isinstance(comparable.get("data"), dict):
        comparable["data"].pop("seed", None)
    own = {k: v for k, v in choices.items() if k != "hydra" and not k.startswith("hydra/")}
    return json.dumps({"config": comparable, "choices": own}, sort_keys=True, default=str)


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
