"""The sbatch script a SLURM sweep job would be submitted with, submitting nothing
(``scripts/slurm_preview.py``).

Composes seglab-train's config with ``hydra/launcher=slurm`` (conf/hydra/launcher/
slurm.yaml) and the overrides, and renders the script with submitit's own sbatch writer,
so what it returns is what submitit would hand to sbatch (the command line submitit runs
in each task is shown as a placeholder).

It lives in ``seglab.run`` (not in ``seglab.cluster`` or the SLURM plugin) because it
composes the launcher's config through ``run.config.compose_config``, and neither
``seglab.cluster`` nor a plugin may import ``run``.
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import OmegaConf

from seglab import cluster
from seglab.errors import require
from seglab.run.config import compose_config

COMMAND = "<python -u -m submitit.core._submit <folder>: runs the seglab-train job>"


def sbatch_text(overrides: Sequence[str]) -> str:
    """The sbatch script for ``seglab-train -m hydra/launcher=slurm <overrides>``."""
    slurm = require(
        "submitit.slurm.slurm",
        "the SLURM sbatch preview",
        "pip install 'seglab[sweeps]' (make installs it)",
    )
    cluster.load_plugins()  # hydra/launcher=slurm and its ${slurm_gpus:…}
    cfg = compose_config("train", ["hydra/launcher=slurm", *overrides], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    mem = launcher.get("mem_gb")
    return slurm._make_sbatch_string(
        command=COMMAND,
        folder=launcher["submitit_folder"],
        job_name=launcher.get("name") or "seglab",
        partition=launcher.get("partition"),
        time=launcher["timeout_min"],
        nodes=launcher["nodes"],
        ntasks_per_node=launcher["tasks_per_node"],
        cpus_per_task=launcher.get("cpus_per_task"),
        gpus_per_node=launcher.get("gpus_per_node"),
        qos=launcher.get("qos"),
        mem=f"{mem}GB" if mem else None,
        signal_delay_s=launcher["signal_delay_s"],
        comment=launcher.get("comment"),
        constraint=launcher.get("constraint"),
        exclude=launcher.get("exclude"),
        account=launcher.get("account"),
        gres=launcher.get("gres"),
        setup=launcher.get("setup"),
        array_parallelism=launcher["array_parallelism"],
        additional_parameters=launcher.get("additional_parameters"),
    )
