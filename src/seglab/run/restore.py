"""A trained network and its data module back from a checkpoint: what evaluation,
prediction and the CRF scripts share (the checkpoint carries the run's resolved config)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from seglab.errors import SeglabError
from seglab.run.checkpoints import load_checkpoint
from seglab.run.moved import retargeted


@dataclass
class Restored:
    """What a checkpoint gives back: the trained module, its data module, the model
    config the module was built from (export records its CRF) and the training run's
    resolved config (evaluation links its W&B run to that run)."""

    model: L.LightningModule
    data: L.LightningDataModule
    model_cfg: DictConfig
    train_cfg: DictConfig


def restore(ckpt_path: str, data_cfg: DictConfig | None = None, **model_overrides: Any) -> Restored:
    """The trained module and its data module, rebuilt from a checkpoint alone (read
    once).

    ``data_cfg`` replaces the checkpoint's data config (or, without ``_target_``, patches
    it); ``model_overrides`` set model config keys (``crf``, ``tta_scales``,
    ``slide.crop`` …).
    """
    ckpt = load_checkpoint(ckpt_path)
    train_cfg = OmegaConf.create(retargeted(ckpt["seglab"]["config"]))
    if data_cfg is None:
        data_cfg = train_cfg.data
    elif "_target_" not in data_cfg:  # +data.key=value patches the checkpoint's data config
        data_cfg = OmegaConf.merge(train_cfg.data, data_cfg)
    if data_cfg.num_classes != train_cfg.data.num_classes:
        raise SeglabError(
            f"the checkpoint predicts {train_cfg.data.num_classes} classes but data "
            f"'{data_cfg.name}' has {data_cfg.num_classes}."
        )
    model_cfg = train_cfg.model
    with open_dict(model_cfg):
        _rename_old_keys(model_cfg)
        model_cfg.class_names = list(data_cfg.class_names)
        model_cfg.ignore_index = data_cfg.ignore_index
        # the checkpoint holds every weight: no ImageNet download, no staged init
        model_cfg.init_from = None
        if OmegaConf.select(model_cfg, "net.backbone.pretrained"):
            model_cfg.net.backbone.pretrained = None
        for key, value in model_overrides.items():  # dotted keys too: slide.crop
            OmegaConf.update(model_cfg, key, value, merge=False)
    model = instantiate(model_cfg)
    model.load_state_dict(ckpt["state_dict"])
    return Restored(model, instantiate(data_cfg), model_cfg, train_cfg)


# keys renamed since earlier checkpoints were written: old name → new name
_RENAMED = {"eval_scales": "tta_scales", "eval_flip": "tta_flip"}


def _rename_old_keys(model_cfg: DictConfig) -> None:
    """Checkpoints written before MSc and TTA got distinct names still restore."""
    for old, new in _RENAMED.items():
        if old in model_cfg:
            model_cfg[new] = model_cfg.pop(old)
    model_cfg.pop("log_images", None)  # now the W&B callback's setting
    net = model_cfg.get("net")
    if net is not None and "input_scales" in net:
        net.msc_scales = net.pop("input_scales")


def model_overrides(cfg: DictConfig) -> dict[str, Any]:
    """Evaluation-time model settings given on the command line: ``tta_scales``,
    ``tta_flip``, ``eval_mode``, ``slide.crop`` / ``slide.stride`` (seglab-eval) and
    ``crf=…`` (which replaces the checkpoint's CRF)."""
    overrides: dict[str, Any] = {}
    if cfg.get("tta_scales"):
        overrides["tta_scales"] = list(cfg.tta_scales)
    if cfg.get("tta_flip") is not None:
        overrides["tta_flip"] = cfg.tta_flip
    if cfg.get("eval_mode"):
        overrides["eval_mode"] = cfg.eval_mode
    for key in ("slide.crop", "slide.stride"):
        value = OmegaConf.select(cfg, key)
        if value is not None:
            overrides[key] = list(value)
    if "slide.crop" in overrides and not cfg.get("eval_mode"):
        overrides["eval_mode"] = "slide"  # a window given is a window used
    if "crf" in (cfg.get("model") or {}):
        overrides["crf"] = cfg.model.crf
    return overrides
