"""``seglab-predict``: label maps, colour masks and overlays for your own images."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from seglab.run.config import config_dir, reports_errors
from seglab.run.prediction import predict
from seglab.run.resolvers import register_resolvers
from seglab.run.validate import check, exit_on_bad_command_line


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="predict")
@reports_errors
def _hydra_main(cfg: DictConfig) -> None:
    check(cfg)
    predict(cfg)


def onnx_argument(argv: list[str]) -> list[str]:
    """``model=<file.onnx>`` is the key users type, but ``model`` names a config group to
    Hydra: it is passed on as ``onnx=<file>``."""
    return [f"onnx={a[6:]}" if a.startswith("model=") else a for a in argv]


def main() -> None:
    """Console entry point."""
    sys.argv[1:] = onnx_argument(sys.argv[1:])
    register_resolvers()
    exit_on_bad_command_line("predict", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    sys.exit(main())
