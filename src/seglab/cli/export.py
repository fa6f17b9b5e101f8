"""``seglab-export``: a checkpoint's network as an ONNX or TorchScript file."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from seglab.run.config import config_dir, reports_errors
from seglab.run.exporting import export
from seglab.run.resolvers import register_resolvers
from seglab.run.validate import check, exit_on_bad_command_line


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="export")
@reports_errors
def _hydra_main(cfg: DictConfig) -> None:
    check(cfg)
    export(cfg)


def main() -> None:
    """Console entry point."""
    register_resolvers()
    exit_on_bad_command_line("export", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    sys.exit(main())
