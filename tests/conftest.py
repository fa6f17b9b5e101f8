"""Shared helpers: run the console entry points in a temp folder, read what they wrote."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# One compute thread per process (before torch is imported, and inherited by every
# run the tests start): two xdist workers, each often running a training process (or
# two DDP ranks, or SLURM jobs beside them), would otherwise put 4+ OpenMP threads on the
# 2 cores, which spin against each other. Set OMP_NUM_THREADS yourself to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CAMVID = Path(os.environ.get("SEGLAB_CAMVID", REPO.parent / "shared" / "data" / "camvid"))

# a small, deterministic synthetic run: ~1 s an epoch on two CPU cores
SMALL = [
    "data.image_size=[64,64]",
    "data.lengths={train:64,val:18,test:16}",
    "trainer.deterministic=true",
    "model.optimizer.lr=0.01",
]


@pytest.fixture(autouse=True)
def _offline_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_home"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb_cache"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    monkeypatch.delenv("SEGLAB_LOG_DIR", raising=False)


# the test being run (set before its fixtures, so a module fixture's process counts for
# the test that first needs it)
_RUNNING: dict[str, pytest.Item] = {}


def pytest_runtest_setup(item: pytest.Item) -> None:
    _RUNNING["item"] = item


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the local SLURM cluster is slow (the cluster starts in ~10 s, each job is
    a process)."""
    for item in items:
        if item.get_closest_marker("slurm") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


def _tier_is_honest(cmd: str, args: tuple[str, ...]) -> None:
    """``make test-fast`` (``-m "not slow"``) starts no process of seglab's: a test that
    does must carry the ``slow`` mark, or it fails in both tiers."""
    item = _RUNNING.get("item")
    if item is not None and item.get_closest_marker("slow") is None:
        pytest.fail(
            f"{item.nodeid} runs `{cmd} {' '.join(args)}` as a process: mark the test "
            "@pytest.mark.slow (make test-fast leaves such tests out) or run it in-process"
        )


def entry_point(cmd: str):
    """The function a console script (``seglab-train`` …) calls, as installed
    (``[project.scripts]`` in pyproject.toml)."""
    from importlib.metadata import entry_points

    (found,) = entry_points(group="console_scripts", name=cmd)
    return found.load()


def run_cli(
    cmd: str,
    *args: str,
    cwd: Path,
    check: bool = True,
    timeout: int = 600,
    env: dict[str, str] | None = None,
    process: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``seglab-train`` / ``seglab-eval`` … as a user would (``env``: variables set on
    top of the test's); fail with its output.

    By default in this process, through the ``main`` its console script calls (a new
    process would spend ~8 s loading torch, Lightning and torchmetrics again); with
    ``process=True`` as a new process, for what only a process shows (signals, DDP
    ranks, the installed console script itself). Tests that start a process for a
    training, evaluation or export carry the ``slow`` mark (``make test-fast`` leaves
    them out; ``_tier_is_honest`` checks the mark)."""
    if process:
        _tier_is_honest(cmd, args)
        proc = subprocess.run(
            [str(BIN / cmd), *args],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    else:
        proc = _run_in_process(cmd, args, cwd, env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} {' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


# the loggers a run reconfigures (Hydra: the root; seglab.run.config.route_lightning_logs:
# Lightning's; seglab-data: a filter on seglab's)
_LOGGERS = ("", "seglab", "lightning", "lightning.pytorch", "lightning.fabric")


def _run_in_process(cmd: str, args: tuple[str, ...], cwd: Path, env) -> subprocess.CompletedProcess:
    """The entry point's ``main`` with ``sys.argv`` set, in ``cwd``, its output captured;
    everything a process would have of its own (environment, working folder, signal
    handlers, loggers, torch's global settings and RNGs, the process token in folder
    names, the once-per-process recipe warnings, Hydra's and W&B's current run, a DDP
    rank) starts fresh and is put back afterwards."""
    import contextlib
    import io
    import logging
    import random
    import secrets
    import signal
    import traceback

    import torch
    import wandb
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from lightning.pytorch.utilities import rank_zero_only
    from omegaconf import OmegaConf

    from seglab.cluster import signals as stop_signals
    from seglab.run import records
    from seglab.training import recipe_checks

    main = entry_point(cmd)
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)
    saved_signals = {s: signal.getsignal(s) for s in handled}
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    saved_loggers = [(lg.handlers[:], lg.filters[:], lg.level, lg.propagate) for lg in loggers]
    saved_torch = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_num_threads(),
        torch.get_float32_matmul_precision(),
        torch.get_rng_state(),
        np.random.get_state(),
        random.getstate(),
    )
    saved_rank, saved_warned = rank_zero_only.rank, set(recipe_checks._warned)
    recipe_checks._warned.clear()
    # a new process gets a new token (run folders, W&B ids): two runs in one folder and
    # second stay apart, as two processes would
    records._PROCESS_TOKEN = secrets.token_hex(3)
    if OmegaConf.has_resolver("uid"):
        OmegaConf.clear_resolver("uid")
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        os.environ.update(env or {})
        os.chdir(cwd)
        sys.argv = [cmd, *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                if isinstance(exc.code, str):  # what the interpreter prints for it
                    err.write(exc.code + "\n")
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except KeyboardInterrupt:
                raise
            except BaseException:  # what the interpreter would print before exiting 1
                err.write(traceback.format_exc())
                code = 1
            finally:
                if wandb.run is not None:  # a process's exit would close it
                    wandb.finish(exit_code=code or 1)
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        for s, handler in saved_signals.items():
            signal.signal(s, handler)
        stop_signals._received = None
        for lg, (handlers, filters, level, propagate) in zip(loggers, saved_loggers):
            for handler in lg.handlers:
                if handler not in handlers:
                    handler.close()
            lg.handlers[:], lg.filters[:] = handlers, filters
            lg.setLevel(level)
            lg.propagate = propagate
        deterministic, warn_only, threads, precision, rng, np_rng, py_rng = saved_torch
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)
        torch.set_float32_matmul_precision(precision)
        torch.set_rng_state(rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        rank_zero_only.rank = saved_rank
        recipe_checks._warned.clear()
        recipe_checks._warned.update(saved_warned)
        HydraConfig.instance().cfg = None
        GlobalHydra.instance().clear()
    return subprocess.CompletedProcess([cmd, *args], code, out.getvalue(), err.getvalue())


def run_dirs(cwd: Path) -> list[Path]:
    """Training run folders under ``outputs/<date>/<time>_<token>``."""
    return sorted(p for p in (cwd / "outputs").glob("20*/*") if p.is_dir())


def csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def optimizer_of(module):
    """The optimizer ``configure_optimizers`` builds (with or without a scheduler)."""
    built = module.configure_optimizers()
    return built["optimizer"] if isinstance(built, dict) else built


def classes_scored(run_dir: Path) -> list[str]:
    """Classes with a positive IoU at the last validation: more than one means the net
    predicts more than a constant class (whose runs agree trivially)."""
    last = [r for r in csv_rows(run_dir) if r.get("val/mIoU")][-1]
    return [k for k, v in last.items() if k.startswith("val_iou/") and v and float(v) > 0]


def val_per_epoch(run_dir: Path, key: str = "val/mIoU") -> list[float]:
    return [float(r[key]) for r in csv_rows(run_dir) if r.get(key)]


def one_process_miou(run_dir: Path, cwd: Path, per_device_batch: int) -> float:
    """``seglab-eval`` of a run's ``last.ckpt`` in one process with the run's per-device
    eval batch: the val mIoU a DDP run must reproduce (padding and sharding ruled out)."""
    run_cli(
        "seglab-eval",
        f"ckpt_path={run_dir}/checkpoints/last.ckpt",
        f"+data.eval_batch_size={per_device_batch}",
        cwd=cwd,
    )
    (eval_run,) = (cwd / "outputs" / "eval").glob("*/*")
    return val_per_epoch(eval_run)[0]


def wandb_runs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "wandb").glob("offline-run-*"))


def wandb_summary(wandb_run: Path) -> dict:
    proc = subprocess.run(
        [str(BIN / "wandb"), "leet", "inspect", "--summary", "--json", str(wandb_run)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout)


def camvid_root() -> Path:
    """The shared CamVid folder; a missing one fails under CI and skips elsewhere."""
    if (CAMVID / "train.txt").is_file():
        return CAMVID
    message = f"CamVid not found at {CAMVID} (set SEGLAB_CAMVID)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def write_segnet_layout(
    root: Path, splits: dict[str, int], size=(24, 32), num_classes=11, seed=0
) -> Path:
    """Small generated images and label maps in CamVid's SegNet layout."""
    rng = np.random.default_rng(seed)
    for split, count in splits.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(count):
            name = f"{split}_{i:03d}.png"
            image = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
            label = rng.integers(0, num_classes + 1, size=size, dtype=np.uint8)
            Image.fromarray(image).save(root / split / name)
            Image.fromarray(label).save(root / f"{split}annot" / name)
            lines.append(f"/SegNet/CamVid/{split}/{name} /SegNet/CamVid/{split}annot/{name}")
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def report_jobs(report_md: str) -> dict[str, dict[str, str]]:
    """seglab-report's "Jobs" table as {job folder name: {column: cell}}."""
    lines = report_md.split("## Jobs", 1)[1].strip().splitlines()
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in r.strip("|").split("|")))) for r in lines[2:]]
    return {r["job"]: r for r in rows if r.get("job")}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real one-node SLURM cluster on this machine (``scripts/local_slurm.sh``), in a
    temp folder and on free ports, so it runs beside one a developer has started. Its
    ``SLURM_CONF`` is what ``sbatch``/``squeue``/``scontrol`` need. Under CI a cluster
    that cannot start fails the tests; elsewhere they skip with the reason."""
    folder = tmp_path_factory.mktemp("slurm")
    env = {
        **os.environ,
        "SEGLAB_SLURM_DIR": str(folder),
        "SEGLAB_SLURMCTLD_PORT": str(free_port()),
        "SEGLAB_SLURMD_PORT": str(free_port()),
    }
    script = [str(REPO / "scripts" / "local_slurm.sh")]
    proc = subprocess.run([*script, "start"], env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        message = f"the local SLURM cluster did not start: {(proc.stdout + proc.stderr)[-2000:]}"
        subprocess.run([*script, "stop"], env=env, capture_output=True, timeout=60)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield {"SLURM_CONF": str(folder / "slurm.conf")}
    finally:
        subprocess.run([*script, "stop"], env=env, capture_output=True, timeout=60)
