"""``seglab-data inspect <overrides…> [--write conf/data/<name>.yaml]``: check a data set
before a long run does. Composes the data config exactly as ``seglab-train`` would, reads
every sample of each split once (without augmentation) and prints counts, image sizes,
missing or unreadable files, the class pixel histogram, then the training split's mean /
std and median-frequency class weights; ``--write`` saves a data config with them."""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import track
from rich.table import Table

from seglab.data.datamodule import SegDataModule
from seglab.errors import ConfigError, DataError
from seglab.run.config import config_dir, reports_errors
from seglab.run.resolvers import register_resolvers

log = logging.getLogger("seglab.data")


@dataclass
class SplitStats:
    """What one pass over a split's samples found."""

    name: str
    count: int = 0
    problem: str | None = None  # a missing-file report, or why the split cannot be built
    unreadable: dict[str, str] = field(default_factory=dict)
    sizes: Counter = field(default_factory=Counter)
    pixels: np.ndarray | None = None  # per class
    ignored: int = 0
    # median frequency: pixels of class c / pixels of the images where c appears
    image_pixels_with: np.ndarray | None = None
    channel_sum: np.ndarray = field(default_factory=lambda: np.zeros(3))
    channel_sq: np.ndarray = field(default_factory=lambda: np.zeros(3))
    image_pixels: int = 0


def compose_data(overrides: list[str]) -> tuple[DictConfig, str]:
    """The run's data config (and the name of the data config chosen) from the overrides
    a training command would get."""
    register_resolvers()
    try:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose("train", overrides=overrides, return_hydra_config=True)
    except HydraException as exc:  # an unknown option or key: Hydra's words, without its
        # search path listing, the options on one line
        text = str(exc).split("\nConfig search path")[0].strip()
        raise ConfigError(" ".join(text.replace("\t", "").split())) from None
    return cfg.data, str(cfg.hydra.runtime.choices.get("data"))


def inspect_split(datamodule: SegDataModule, split: str) -> SplitStats:
    stats = SplitStats(split)
    n = datamodule.num_classes
    try:
        dataset = datamodule.make_dataset(split, None)
    except DataError as exc:
        stats.problem = str(exc)
        if datamodule.on_bad_sample == "skip":
            return stats
        # count what is there: missing files left out, as data.on_bad_sample=skip would
        datamodule.on_bad_sample = "skip"
        try:
            dataset = datamodule.make_dataset(split, None)
        except DataError:
            return stats
        finally:
            datamodule.on_bad_sample = "error"
    stats.count = len(dataset)
    stats.pixels = np.zeros(n, dtype=np.int64)
    stats.image_pixels_with = np.zeros(n, dtype=np.int64)
    for i in track(range(len(dataset)), description=f"reading {split} ({len(dataset)})"):
        try:
            image, mask = dataset.checked(i)
        except DataError as exc:
            stats.unreadable[dataset.names[i]] = str(exc)
            continue
        stats.sizes[f"{image.shape[1]}x{image.shape[0]}"] += 1
        valid = mask[(mask >= 0) & (mask < n)]
        counts = np.bincount(valid.ravel(), minlength=n)[:n]
        stats.pixels += counts
        stats.ignored += mask.size - valid.size
        stats.image_pixels_with[counts > 0] += valid.size
        rgb = image.reshape(-1, 3).astype(np.float64) / 255.0
        stats.channel_sum += rgb.sum(0)
        stats.channel_sq += (rgb**2).sum(0)
        stats.image_pixels += rgb.shape[0]
    return stats


def median_frequency_weights(stats: SplitStats) -> list[float | None]:
    """SegNet's class weights (Eigen & Fergus): median(freq) / freq(c), freq(c) = pixels
    of c / labelled pixels of the images where c appears; None for an absent class."""
    seen = stats.image_pixels_with > 0
    freq = np.where(seen, stats.pixels / np.maximum(stats.image_pixels_with, 1), np.nan)
    median = np.nanmedian(freq[stats.pixels > 0])
    return [round(float(median / f), 4) if f > 0 else None for f in freq]


def mean_std(stats: SplitStats, space: Any) -> tuple[list[float], list[float]]:
    """Per-channel mean / std of the images in the data's input space (its channel
    order and scale: RGB in [0, 1] for rgb_imagenet, BGR in 0-255 for caffe_bgr255)."""
    mean = stats.channel_sum / max(stats.image_pixels, 1)
    std = np.sqrt(np.maximum(stats.channel_sq / max(stats.image_pixels, 1) - mean**2, 0))
    if space.order == "bgr":
        mean, std = mean[::-1], std[::-1]
    return [round(float(v * space.scale), 4) for v in mean], [
        round(float(v * space.scale), 4) for v in std
    ]


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


@reports_errors
def run(args: argparse.Namespace) -> None:
    inspect(args.overrides, args.write, Console(soft_wrap=True))


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    parser = argparse.ArgumentParser(
        prog="seglab-data",
        description="Check a data set as training would read it, and write its data config.",
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
    args = parser.parse_args(argv)
    # warnings (files left out with data.on_bad_sample=skip) on stderr; errors are the
    # one `seglab: error:` line reports_errors prints
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("seglab").addFilter(lambda record: record.levelno < logging.ERROR)
    run(args)


if __name__ == "__main__":
    sys.exit(main())
