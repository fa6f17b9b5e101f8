"""Print the sbatch script a SLURM sweep job would be submitted with; submits nothing.

    python scripts/slurm_preview.py trainer=ddp trainer.num_nodes=2 trainer.devices=4 \
        hydra.launcher.partition=gpu [other seglab-train overrides]

Composes seglab-train's config with ``hydra/launcher=slurm`` (conf/hydra/launcher/
slurm.yaml) and the overrides, and renders the script with submitit's own sbatch writer,
so what is printed is what submitit would hand to sbatch (the command line submitit runs
in each task is shown as a placeholder).
"""

from __future__ import annotations

import sys

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from seglab import cluster
from seglab.run.config import config_dir
from seglab.run.resolvers import register_resolvers


def sbatch_text(overrides: list[str]) -> str:
    try:
        from submitit.slurm.slurm import _make_sbatch_string
    except ImportError:
        raise SystemExit(
            "slurm_preview.py: submitit is not installed: pip install 'seglab[sweeps]' "
            "(make installs it)"
        ) from None

    register_resolvers()
    cluster.load_plugins()  # hydra/launcher=slurm and its ${slurm_gpus:…}
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            "train", overrides=["hydra/launcher=slurm", *overrides], return_hydra_config=True
        )
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    mem = launcher.get("mem_gb")
    return _make_sbatch_string(
        command="<python -u -m submitit.core._submit <folder>: runs the seglab-train job>",
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


if __name__ == "__main__":
    print(sbatch_text(sys.argv[1:]))
