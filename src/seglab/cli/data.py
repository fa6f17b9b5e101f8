"""``seglab-data inspect <overrides…> [--write conf/data/<name>.yaml]``: check a data set
before a long run does. Composes the data config exactly as ``seglab-train`` would, reads
every sample of each split once (without augmentation, ``seglab.data.statistics``) and
prints counts, image sizes, missing or unreadable files, the class pixel histogram, then
the training split's mean / std and median-frequency class weights; ``--write`` saves a
data config with them.

``seglab-data download voc <folder> [--sbd]``: Pascal VOC 2012 (and SBD's augmented
labels with ``train_aug.txt``) where there is internet (``scripts/download_voc.py``)."""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from seglab.data.datamodule import SegDataModule
from seglab.data.statistics import SplitStats, inspect_split, mean_std, median_frequency_weights
from seglab.data.voc import fetch_voc
from seglab.errors import ConfigError, DataError
from seglab.run.config import compose_config, reports_errors

log = logging.getLogger("seglab.data")


def compose_data(overrides: list[str]) -> tuple[DictConfig, str]:
    """The run's data config (and the name of the data config chosen) from the overrides
    a training command would get."""
    cfg = compose_config("train", overrides, return_hydra_config=True)
    return cfg.data, str(cfg.hydra.runtime.choices.get("data"))


def print_report(console: Console, datamodule: SegDataModule, splits: list[SplitStats]) -> None:
    names = datamodule.class_names
    console.print(
        f"[bold]{datamodule.name}[/] at {datamodule.root}: {datamodule.num_classes} classes, "
        f"ignore index {datamodule.ignore_index}"
    )
    for s in splits:
        sizes = ", ".join(f"{k} ({v})" for k, v in s.sizes.most_common(5))
        more = f" and {len(s.sizes) - 5} more" if len(s.sizes) > 5 else ""
        console.print(f"split [bold]{s.name}[/]: {s.count} samples; sizes {sizes or '-'}{more}")
        if s.problem:
            console.print(f"  [red]problem:[/] {s.problem}")
        for name, why in list(s.unreadable.items())[:10]:
            console.print(f"  [red]unreadable:[/] {name}: {why}")
        if len(s.unreadable) > 10:
            console.print(f"  … {len(s.unreadable) - 10} more unreadable samples")
    table = Table(title="class pixels (% of labelled pixels)")
    table.add_column("class")
    for s in splits:
        if s.pixels is not None:
            table.add_column(s.name, justify="right")
    for c, name in enumerate(names):
        cells = []
        for s in splits:
            if s.pixels is not None:
                total = max(int(s.pixels.sum()), 1)
                cells.append(f"{100 * s.pixels[c] / total:.2f}")
        table.add_row(f"{c} {name}", *cells)
    ignored = [
        f"{100 * s.ignored / max(int(s.pixels.sum()) + s.ignored, 1):.2f}"
        for s in splits
        if s.pixels is not None
    ]
    table.add_row("(ignored, % of all)", *ignored)
    console.print(table)


def written_config(
    source: str, data_cfg: DictConfig, overrides: list[str], found: dict[str, Any]
) -> str:
    """A data config: the source config with this inspection's overrides and values."""
    out: dict[str, Any] = {"defaults": [source, "_self_"]}
    resolved = OmegaConf.to_container(data_cfg, resolve=True)
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key.startswith("data.") and "=" in item:
            parts = key[len("data.") :].split(".")
            value, node = resolved, out
            for part in parts:
                value = value[part]
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
    if "root" in out:
        out["root"] = str(Path(out["root"]).expanduser().resolve())
    if "classes" in resolved:  # a classes file: written out, so the config stands alone
        out.update({k: resolved[k] for k in ("num_classes", "class_names", "class_colors")})
    out.update(found)
    stamp = datetime.date.today().isoformat()
    header = (
        f"# Written by seglab-data inspect {' '.join(overrides)} ({stamp}).\n"
        "# class_weights: median frequency over the training split (for\n"
        "# model.loss.class_weights=${data.class_weights}); mean / std: the training images'\n"
        "# statistics in data.input_space's order and scale (they replace the space's own:\n"
        "# set both to null when fine-tuning ImageNet weights, which expect ImageNet's).\n"
    )
    return header + yaml.safe_dump(out, sort_keys=False, default_flow_style=None, width=92)


def inspect(overrides: list[str], write: str | None, console: Console) -> dict[str, Any]:
    data_cfg, source = compose_data(overrides)
    datamodule: SegDataModule = instantiate(data_cfg, _convert_="object")
    wanted = [datamodule.train_split, datamodule.val_split]
    if datamodule.test_split not in wanted:
        wanted.append(datamodule.test_split)
    splits = []
    for split in wanted:
        stats = inspect_split(datamodule, split)
        if split == datamodule.test_split and split not in wanted[:2] and not stats.count:
            console.print(f"split [bold]{split}[/] (data.test_split): not present")
            continue
        splits.append(stats)
    print_report(console, datamodule, splits)
    train = splits[0]
    if not train.count or train.pixels is None or not train.pixels.sum():
        raise DataError(f"split '{train.name}' has no readable labelled sample: nothing to measure")
    weights = median_frequency_weights(train)
    mean, std = mean_std(train, datamodule.space)
    absent = [datamodule.class_names[c] for c, w in enumerate(weights) if w is None]
    console.print(f"mean {mean}  std {std}  ({datamodule.space.name}: its order and scale)")
    console.print(f"median-frequency class weights {weights}")
    if absent:
        console.print(f"[yellow]classes absent from {train.name}:[/] {', '.join(absent)}")
    found = {
        "class_weights": [w if w is not None else 0.0 for w in weights],
        "mean": mean,
        "std": std if datamodule.space.name != "caffe_bgr255" else None,
    }
    if write:
        path = Path(write)
        if path.stem == source:
            raise ConfigError(f"--write {write} would replace the config it starts from")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(written_config(source, data_cfg, overrides, found))
        console.print(
            f"wrote {path}: use it with data={path.stem} (it must sit in a data/ config folder)"
        )
    return {"splits": splits, "weights": weights, "mean": mean, "std": std}


def download_voc(root: str, sbd: bool, console: Console) -> None:
    """``seglab-data download voc <folder> [--sbd]``: VOC 2012 (and SBD) where there is
    internet."""
    path, train_aug = fetch_voc(root, sbd)
    if train_aug is not None:
        console.print(f"SBD's augmented labels are in {path}: train_aug lists {train_aug} images")
    console.print(f"VOC 2012 is in {path}: use data=voc data.root={path}")


@reports_errors
def run(args: argparse.Namespace) -> None:
    console = Console(soft_wrap=True)
    if args.command == "download":
        download_voc(args.root, args.sbd, console)  # the one data set it fetches: voc
    else:
        inspect(args.overrides, args.write, console)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    parser = argparse.ArgumentParser(
        prog="seglab-data",
        description="Check a data set as training would read it and write its data config "
        "(inspect), or fetch one (download).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "inspect",
        help="counts, sizes, class histogram, unreadable files, mean/std, class weights",
    )
    p.add_argument(
        "overrides", nargs="*", help="the overrides you train with, e.g. data=camvid data.root=…"
    )
    p.add_argument(
        "--write", metavar="PATH", help="write a data config (e.g. conf/data/mydata.yaml)"
    )
    d = sub.add_parser("download", help="fetch a data set (where there is internet)")
    d.add_argument("dataset", choices=["voc"], help="voc: Pascal VOC 2012 (+ SBD with --sbd)")
    d.add_argument("root", help="folder to download and extract into")
    d.add_argument(
        "--sbd", action="store_true", help="also SBD's augmented labels and train_aug.txt"
    )
    args = parser.parse_args(argv)
    # warnings (files left out with data.on_bad_sample=skip) on stderr; errors are the
    # one `seglab: error:` line reports_errors prints
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    seglab_log = logging.getLogger("seglab")
    seglab_log.addFilter(_below_error)
    try:
        run(args)
    finally:  # the filter is this command's, not the process's
        seglab_log.removeFilter(_below_error)


def _below_error(record: logging.LogRecord) -> bool:
    return record.levelno < logging.ERROR


if __name__ == "__main__":
    sys.exit(main())
