"""What loggers record of a run's config: the keys that compare across runs, the Hydra
choices, the network's size, the commit and the machine."""

from __future__ import annotations

from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from seglab.models.size import network_size
from seglab.run.records import RunInfo
from seglab.run.sweeps import comparable_config


def logged_config(cfg: DictConfig, model: L.LightningModule, info: RunInfo) -> dict[str, Any]:
    """The config loggers get: comparable keys only (no paths, ids, callbacks), the
    Hydra choices users group by (``model``, ``model/head``, ``ablation``, ``crf`` …), the
    network's parameters and GFLOPs at the data's input size, the code's commit and the
    machine (a seed reproduces a run only on the same machine kind)."""
    hparams = comparable_config(OmegaConf.to_container(cfg, resolve=True))
    choices = HydraConfig.get().runtime.choices
    hparams["choices"] = {k: v for k, v in choices.items() if not k.startswith("hydra")}
    size = cfg.data.get("crop_size") or cfg.data.get("image_size")
    params, gflops = network_size(model.net, list(size) if size is not None else None)
    hparams["params"] = params
    if gflops is not None:
        hparams["gflops"] = round(gflops, 3)
    hparams["git_commit"] = info.git.get("commit")
    hparams["machine"] = info.machine  # W&B groups and filters runs by it
    return hparams
