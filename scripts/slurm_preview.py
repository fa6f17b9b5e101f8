"""Print the sbatch script a SLURM sweep job would be submitted with; submits nothing.

    python scripts/slurm_preview.py trainer=ddp trainer.num_nodes=2 trainer.devices=4 \
        hydra.launcher.partition=gpu [other seglab-train overrides]

Composes seglab-train's config with ``hydra/launcher=slurm`` (conf/hydra/launcher/
slurm.yaml) and the overrides, and renders the script with submitit's own sbatch writer,
so what is printed is what submitit would hand to sbatch (the command line submitit runs
in each task is shown as a placeholder): ``seglab.run.slurm_preview.sbatch_text``.
"""

from __future__ import annotations

import sys

from seglab.errors import SeglabError
from seglab.run.slurm_preview import sbatch_text

if __name__ == "__main__":
    try:
        print(sbatch_text(sys.argv[1:]))
    except SeglabError as exc:
        raise SystemExit(f"slurm_preview.py: {exc}") from None
