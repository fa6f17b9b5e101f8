"""``seglab-eval``: evaluate a checkpoint on a split and print a per-class IoU table."""

from __future__ import annotations

import sys

import hydra
import torch
from omegaconf import DictConfig

from seglab.run.config import config_dir, reports_errors
from seglab.run.evaluation import evaluate
from seglab.run.resolvers import register_resolvers
from seglab.run.validate import check, exit_on_bad_command_line


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="eval")
@reports_errors
def _hydra_main(cfg: DictConfig) -> None:
    check(cfg)
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "highest"))
    evaluate(cfg)


def main() -> None:
    """Console entry point."""
    register_resolvers()
    exit_on_bad_command_line("eval", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
