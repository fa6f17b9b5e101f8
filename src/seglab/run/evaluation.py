"""Evaluation of a checkpoint on a split: the network and data rebuilt from the checkpoint
(``run.restore``), its own W&B run linked to the training run, and the per-class table."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, open_dict
from rich.console import Console
from rich.table import Table

from seglab.errors import SeglabError
from seglab.run.build import build_list
from seglab.run.records import process_token
from seglab.run.restore import model_overrides, restore
from seglab.tracking import names
from seglab.tracking.wandb_run import finish_wandb

log = logging.getLogger("seglab.eval")


def results_table(metrics: dict[str, float], prefix: str, class_names: list[str]) -> Table:
    """Per-class IoU, mIoU and pixel accuracy; a CRF column when the run had one."""
    crf = f"{prefix}/mIoU_crf" in metrics
    table = Table(title=f"{prefix} results")
    table.add_column("class")
    table.add_column("IoU", justify="right")
    if crf:
        table.add_column("IoU with CRF", justify="right")

    def row(label: str, key: str, crf_key: str, **kw) -> None:
        cells = [f"{metrics.get(key, float('nan')):.4f}"]
        if crf:
            cells.append(f"{metrics.get(crf_key, float('nan')):.4f}")
        table.add_row(label, *cells, **kw)

    for name in class_names:
        row(name, names.class_iou(prefix, name), names.class_iou(prefix, name, crf=True))
    table.add_section()
    row("mIoU", names.miou(prefix), names.miou(prefix, crf=True), style="bold")
    row("pixel accuracy", names.pixel_acc(prefix), names.pixel_acc(prefix, crf=True))
    return table


def evaluate(cfg: DictConfig) -> dict[str, float]:
    if cfg.split not in ("val", "test"):
        raise SeglabError(f"split={cfg.split}: use split=val or split=test.")
    L.seed_everything(cfg.seed)
    restored = restore(cfg.ckpt_path, cfg.get("data"), **model_overrides(cfg))
    model, datamodule, trained = restored.model, restored.data, restored.train_cfg
    datamodule.test_split = cfg.split
    train_id = trained.get("run_id") or Path(cfg.ckpt_path).stem
    with open_dict(cfg):  # every evaluation is its own W&B run, linked to its training run
        cfg.run_id = f"eval-{train_id}-{time.strftime('%Y%m%d%H%M%S')}-{process_token()}"
        cfg.group = cfg.get("group") or trained.get("group") or train_id
        cfg.run_name = cfg.get("run_name") or f"eval-{trained.get('run_name') or train_id}"
    loggers = build_list(cfg.get("logger"))
    for lg in loggers:
        lg.log_hyperparams(
            {
                "train_run_id": train_id,
                "train_run_name": trained.get("run_name"),
                "ckpt_path": str(Path(cfg.ckpt_path).resolve()),
                "split": cfg.split,
            }
        )
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    run = trainer.validate if cfg.split == "val" else trainer.test
    prefix = "val" if cfg.split == "val" else "test"
    try:
        out = run(model, datamodule=datamodule, verbose=False)[0]
    finally:  # closed here, not by W&B's exit hook: that one may leave the run unflushed
        finish_wandb(trainer)
    if rank_zero_only.rank == 0:
        Console().print(results_table(out, prefix, list(datamodule.class_names)))
        miou, acc = names.miou(prefix), names.pixel_acc(prefix)
        log.info("%s=%.6f %s=%.6f", miou, out[miou], acc, out[acc])
    return out
