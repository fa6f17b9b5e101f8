"""``seglab-train``: compose a run from config groups and hand it to ``seglab.run``."""

from __future__ import annotations

import os
import sys

import hydra
import torch
from omegaconf import DictConfig

from seglab import cluster
from seglab.errors import SeglabError, clean_message
from seglab.run import ddp
from seglab.run.config import config_dir, reports_errors
from seglab.run.lifecycle import train
from seglab.run.resolvers import register_resolvers
from seglab.run.resume import resume_argv
from seglab.run.validate import check, check_command_line


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
@reports_errors
def _hydra_main(cfg: DictConfig) -> float | None:
    check(cfg)  # values a sweeper chose (Optuna) or a config given with --config-dir
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "highest"))
    if cfg.get("threads"):  # before any tensor work: run_info records the count
        torch.set_num_threads(int(cfg.threads))
    return train(cfg)


def main() -> None:
    """Console entry point: resolvers and launcher plugins, DDP's rank commands, the
    command line rewritten for ``resume=<run folder>`` and checked, then Hydra."""
    register_resolvers()
    cluster.load_plugins()
    ddp.install()
    try:
        sys.argv[1:] = ddp.node_argv(resume_argv(sys.argv[1:]))
        if os.environ.get("LOCAL_RANK") is None:  # a DDP rank's command was checked by rank 0
            check_command_line("train", sys.argv[1:])
    except SeglabError as exc:
        print(f"seglab: error: {clean_message(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    _hydra_main()


if __name__ == "__main__":
    main()
