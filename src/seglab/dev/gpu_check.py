"""The prepared GPU check (``scripts/gpu_check.sh``): what seglab measures when a GPU is
lent for a few minutes, run within a time budget and reported as one summary.

Steps (each in its own process with its own time limit; a failure is reported and the
next step runs):

1. ``seglab.dev.bench_train``: seglab against torchvision at full width (1a), the fast
   paths fp32 / bf16-mixed / channels_last (1b) and torch.compile (1c, run last with
   the time the others left: its compile time varies most);
2. a few hundred steps of FCN-8s (500×500, batch 1, as voc_fcn8s) and DeepLab v3
   ResNet-101 (513×513, batch 16, as voc_deeplab_v3) in bf16 on generated data, random
   init, through ``seglab-train trainer=gpu``: img/s from the run folder, peak GPU memory
   from ``PeakMemory`` (seglab records none of its own);
3. the torch CRF on CUDA against the CPU on the same inputs: time, max |Δp|, labels;
4. ``trainer=ddp trainer.devices=1``: N steps and a checkpoint, resumed to 2N, against
   2N from scratch (and a second scratch run: the GPU's own run-to-run noise), compared
   as tests/test_fault_tolerance.py does (final weights, val/mIoU per epoch);
5. ``seglab-export`` of step 4's checkpoint to ONNX, then ONNX Runtime (CUDA provider
   where it loads) against the PyTorch network on CUDA: max |Δ| and labels.

``--dry-run`` composes every command (``seglab.run.validate.check_command_line`` for the
seglab-train / seglab-export lines, argparse for the bench and the in-process parts) and
prints the summary with every step DRY-RUN; it needs no GPU. ``--budget-s`` (480) is
the whole check's wall time, shared among the steps (``Step.share`` of what is left
when each starts; the trainings also stop themselves by ``trainer.max_time``).
``--device cpu`` runs the same plumbing on a CPU (with tiny sizes) where no GPU is. The
summary goes to stdout and to ``gpu_check.txt`` in ``--out`` (default ``$OUT`` when set).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from seglab.dev import bench_train

BENCH_MODULE = "seglab.dev.bench_train"
FAST_PATH_MODEL = "deeplabv3_mobilenet_v3_large"
PEAK_FILE = "peak_memory.json"
MODULE = "seglab.dev.gpu_check"
RESERVE_S = 15.0  # of --budget-s: start-up before main() and the summary


# --------------------------------------------------------------------------- callback
class PeakMemory(Callback):
    """Peak CUDA memory of a training run, its optimizer steps and training seconds, in
    ``<run folder>/peak_memory.json`` when training ends (rank 0): seglab's own records
    hold img/s but no memory. Added by the check as ``+callbacks.peak_memory._target_=…``."""

    def __init__(self) -> None:
        self.started = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        record: dict[str, Any] = {
            "global_step": int(trainer.global_step),
            "train_seconds": round(time.perf_counter() - self.started, 2),
        }
        if torch.cuda.is_available():
            record["peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
            record["peak_reserved_mib"] = round(torch.cuda.max_memory_reserved() / 2**20)
            record["device"] = torch.cuda.get_device_name()
        Path(trainer.default_root_dir, PEAK_FILE).write_text(json.dumps(record))


# --------------------------------------------------------------------------- plan
@dataclass
class Plan:
    """What the check runs, from the command line."""

    device: str = "cuda"
    budget_s: float = 480.0
    steps: int = 200
    fcn_size: int = 500
    fcn_batch: int = 1
    deeplab_size: int = 513
    deeplab_batch: int = 16
    workers: int = 6
    bench_size: int = 512
    bench_batch: int = 8
    bench_steps: int = 3
    bench_repeats: int = 3
    compile: bool = True
    crf_frames: int = 8
    crf_size: tuple[int, int] = (360, 480)
    resume_steps: int = 20
    resume_batch: int = 16
    resume_size: int = 128
    rerun: bool = True
    export_size: int = 512
    extra: list[str] = field(default_factory=list)
    work: Path = Path("gpu_check_work")
    out: Path | None = None
    only: list[str] | None = None


@dataclass
class Command:
    """One process of a step. ``kind``: train / export (a seglab entry point, its Hydra
    overrides in ``args``), bench (``seglab.dev.bench_train``), part (this module's
    ``--part``). ``check_args``: what the dry run composes instead of ``args`` (resume:
    the line ``resume=<folder>`` becomes)."""

    label: str
    kind: str
    args: list[str]
    check_args: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, python: str) -> list[str]:
        if self.kind == "train":
            return [python, "-m", "seglab.cli.train", *self.args]
        if self.kind == "export":
            return [python, "-m", "seglab.cli.export", *self.args]
        if self.kind == "bench":
            return [python, "-m", BENCH_MODULE, *self.args]
        return [python, "-m", MODULE, "--part", *self.args]

    def shown(self) -> str:
        where = {
            "train": "seglab-train",
            "export": "seglab-export",
            "bench": f"python -m {BENCH_MODULE}",
            "part": f"python -m {MODULE} --part",
        }
        head = where[self.kind]
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return " ".join(p for p in (env, head, shlex.join(self.args)) if p)


@dataclass
class Result:
    """A step's line of the summary."""

    status: str = "SKIPPED"
    figures: str = ""
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)


def max_time(timeout: float, margin: float) -> str:
    """``trainer.max_time`` (DD:HH:MM:SS) that ends training ``margin`` seconds (start-up,
    data generation, shutdown) before the process's ``timeout``."""
    seconds = int(max(20.0, timeout - margin))
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _trainer(plan: Plan, ddp: bool = False) -> list[str]:
    if plan.device == "cuda":
        return ["trainer=ddp", "trainer.devices=1"] if ddp else ["trainer=gpu"]
    return ["trainer=ddp_cpu", "trainer.devices=1"] if ddp else ["trainer=cpu"]


QUIET = ["~callbacks.progress_bar", "+trainer.enable_progress_bar=false"]


def throughput_overrides(
    plan: Plan, model: str, size: int, batch: int, timeout: float
) -> list[str]:
    """``seglab-train`` of ``model`` for ``plan.steps`` bf16 steps on generated frames of
    ``size``² (no augmentation, no validation, no checkpoints: the loop's speed)."""
    # epochs of at most 50 steps and 256 generated frames (generating 513² frames takes
    # ~40 ms each); img/s is an epoch's, so more than a few steps each
    per_epoch = max(1, min(plan.steps, 50, 256 // batch))
    return [
        f"model={model}",
        "data=synthetic",
        f"data.image_size=[{size},{size}]",
        "data.crop_size=null",
        "data/train_augment=none",
        f"data.batch_size={batch}",
        f"data.lengths={{train:{per_epoch * batch},val:2}}",
        f"data.num_workers={plan.workers}",
        "model.net.backbone.pretrained=null",
        *_trainer(plan),
        "trainer.precision=bf16-mixed",
        f"trainer.max_steps={plan.steps}",
        "trainer.max_epochs=-1",
        f"trainer.max_time={max_time(timeout, max(30.0, 0.3 * timeout))}",
        "trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0",
        "logger=csv",
        "~callbacks.model_checkpoint",
        "~callbacks.last_checkpoint",
        *QUIET,
        f"+callbacks.peak_memory._target_={MODULE}.PeakMemory",
        f"hydra.run.dir={plan.work / model}",
        *plan.extra,
    ]


def resume_overrides(plan: Plan, name: str) -> list[str]:
    """Two epochs of ``resume_steps`` steps of the default model under DDP (one device),
    the tests' recipe: as deterministic as the GPU allows, cuDNN autotuning off."""
    n, batch = plan.resume_steps, plan.resume_batch
    return [
        f"data.image_size=[{plan.resume_size},{plan.resume_size}]",
        f"data.batch_size={batch}",
        f"data.lengths={{train:{n * batch},val:16}}",
        *_trainer(plan, ddp=True),
        "trainer.deterministic=warn",  # true: CUDA's bilinear backward and NLL raise
        # data.num_workers stays synthetic's 0, as in the tests: with loader workers (1 or
        # 2) a resume at an epoch's end was not exact on the CPU either (2026-12-06)
        "trainer.benchmark=false",
        "trainer.max_epochs=2",
        "logger=csv",
        *QUIET,
        f"hydra.run.dir={plan.work / name}",
        *plan.extra,
    ]


DETERMINISTIC_ENV = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}


def bench_args(plan: Plan, *mode: str) -> list[str]:
    size = str(plan.bench_size)
    return [
        *mode,
        "--size",
        size,
        size,
        "--batch",
        str(plan.bench_batch),
        "--steps",
        str(plan.bench_steps),
        "--repeats",
        str(plan.bench_repeats),
        "--device",
        plan.device,
    ]


def export_ckpt(plan: Plan) -> Path:
    return plan.work / "resume_scratch" / "checkpoints" / "last.ckpt"


def onnx_path(plan: Plan) -> Path:
    return plan.work / "export" / "model.onnx"


# --------------------------------------------------------------------------- runner
@dataclass
class Finished:
    rc: int
    timed_out: bool
    seconds: float
    output: str


class Runner:
    """Runs a step's processes with their time limits; each one's output in
    ``<out>/logs/<label>.log``."""

    def __init__(self, python: str, logs: Path) -> None:
        self.python, self.logs = python, logs
        logs.mkdir(parents=True, exist_ok=True)
        src = str(Path(__file__).resolve().parents[2])  # seglab importable in every child
        path = os.environ.get("PYTHONPATH")
        self.env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{path}" if path else src}
        self.env.setdefault("WANDB_MODE", "disabled")

    def run(self, command: Command, timeout: float) -> Finished:
        log = self.logs / f"{command.label}.log"
        argv = command.argv(self.python)
        print(
            f"[gpu_check] {command.label}: {shlex.join(argv)} (limit {timeout:.0f} s)", flush=True
        )
        start = time.perf_counter()
        timed_out = False
        with open(log, "w") as f:
            f.write(f"$ {shlex.join(argv)}\n")
            f.flush()
            proc = subprocess.Popen(
                argv,
                env={**self.env, **command.env},
                stdout=f,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                proc.wait(timeout=max(1.0, timeout))
            except subprocess.TimeoutExpired:
                timed_out = True
                _stop(proc)
        seconds = time.perf_counter() - start
        output = log.read_text(errors="replace")
        print(f"[gpu_check] {command.label}: exit {proc.returncode} in {seconds:.0f} s", flush=True)
        return Finished(proc.returncode, timed_out, seconds, output)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process's own group (its data-loader workers too), SIGKILL after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def failure(done: Finished, what: str = "") -> str:
    """``FAILED (reason)`` from a process's end: the timeout, seglab's one-line error, or
    the last line of a traceback."""
    if done.timed_out:
        return f"FAILED (timeout after {done.seconds:.0f} s{what})"
    lines = [ln.strip() for ln in done.output.splitlines() if ln.strip()]
    reason = next((ln for ln in reversed(lines) if ln.startswith("seglab: error:")), None)
    if reason is None:
        reason = next(
            (ln for ln in reversed(lines) if "Error" in ln or "error:" in ln),
            lines[-1] if lines else "no output",
        )
    return f"FAILED (exit {done.rc}: {reason[:200]}{what})"


# --------------------------------------------------------------------------- steps
@dataclass
class Step:
    key: str
    title: str
    share: float  # of the budget (of what is left when it starts, among the steps left)
    commands: Callable[[Plan, float], list[Command]]
    run: Callable[[Plan, Runner, float], Result]


def _bench_commands(mode: str) -> Callable[[Plan, float], list[Command]]:
    def commands(plan: Plan, timeout: float) -> list[Command]:
        if mode == "compare":
            return [Command("bench_compare", "bench", bench_args(plan))]
        args = bench_args(plan, "--fast-paths", FAST_PATH_MODEL)
        if mode == "compile":
            return [Command("bench_compile", "bench", [*args, "--compile"])] if plan.compile else []
        return [Command("bench_fast_paths", "bench", args)]

    return commands


def _bench_run(mode: str) -> Callable[[Plan, Runner, float], Result]:
    def run(plan: Plan, runner: Runner, timeout: float) -> Result:
        commands = _bench_commands(mode)(plan, timeout)
        if not commands:
            return Result("SKIPPED (--no-compile)")
        done = runner.run(commands[0], timeout)
        table = [ln for ln in done.output.splitlines()[1:] if ln.strip() and "Warning" not in ln]
        rows = parse_compare(table) if mode == "compare" else parse_fast_paths(table)
        if mode == "compile":
            rows = [r for r in rows if "compile" in r or r.startswith("fp32")]
        details = [f"{commands[0].label}:", *(f"  {ln}" for ln in _tables(done.output))]
        status = "OK" if done.rc == 0 and rows else failure(done)
        return Result(status, "; ".join(rows), done.seconds, details)

    return run


def _tables(output: str) -> list[str]:
    """The bench's table (headers and rows), without the log's command line, warnings or
    a traceback."""
    lines = [ln.rstrip() for ln in output.splitlines()[1:]]
    heads = [ln for ln in lines if ln.startswith(("device ", "model ")) or ln.endswith("vs fp32")]
    return [ln for ln in lines if ln in heads or parse_compare([ln]) or parse_fast_paths([ln])]


def parse_compare(lines: list[str]) -> list[str]:
    """``compare``'s rows → ``name sl/tv img/s (ratio×, peak sl/tv MB)``."""
    rows = []
    for ln in lines:
        parts = ln.split()
        if len(parts) >= 6 and parts[0] in bench_train.PAIRS:
            name = parts[0].removesuffix("_torchvision")
            rows.append(f"{name} {parts[1]}/{parts[2]} img/s ({parts[3]}x, {parts[5]} MB)")
    return rows


def parse_fast_paths(lines: list[str]) -> list[str]:
    """``fast_paths``' rows → ``variant img/s (speed-up×)``."""
    rows = []
    for ln in lines:
        parts = ln.split()
        if not ln.startswith("  ") or len(parts) < 3 or not parts[-1].endswith("x"):
            continue
        try:
            rate, speed = float(parts[-2]), float(parts[-1][:-1])
        except ValueError:
            continue
        rows.append(f"{' '.join(parts[:-2])} {rate:.1f} img/s ({speed:.2f}x)")
    return rows


TRAIN_RUNS = {
    "train_fcn8s": ("fcn8s", "fcn_size", "fcn_batch"),
    "train_deeplab_v3": ("deeplab_v3", "deeplab_size", "deeplab_batch"),
}


def _train_commands(key: str) -> Callable[[Plan, float], list[Command]]:
    model, size, batch = TRAIN_RUNS[key]

    def commands(plan: Plan, timeout: float) -> list[Command]:
        args = throughput_overrides(plan, model, getattr(plan, size), getattr(plan, batch), timeout)
        return [Command(key, "train", args)]

    return commands


def _train_run(key: str) -> Callable[[Plan, Runner, float], Result]:
    model, size_key, batch_key = TRAIN_RUNS[key]

    def run(plan: Plan, runner: Runner, timeout: float) -> Result:
        (command,) = _train_commands(key)(plan, timeout)
        done = runner.run(command, timeout)
        size, batch = getattr(plan, size_key), getattr(plan, batch_key)
        figures, steps = train_figures(plan.work / model, batch)
        setting = f"{size}² batch {batch}, bf16-mixed"
        if done.rc != 0 or done.timed_out:
            return Result(failure(done), "; ".join([*figures, setting]), done.seconds)
        if not figures:
            return Result("FAILED (no img/s in the run folder)", setting, done.seconds)
        if steps is not None and steps < plan.steps:
            setting += f", stopped by trainer.max_time at step {steps} of {plan.steps}"
        return Result("OK", "; ".join([*figures, setting]), done.seconds)

    return run


def train_figures(run: Path, batch: int) -> tuple[list[str], int | None]:
    """img/s (``run_info.yaml``: the last epoch's ``train/img_per_s``; the median of the
    epochs after the first from ``csv/metrics.csv``), the whole loop's rate, peak memory
    (``PeakMemory``) and the steps trained."""
    figures: list[str] = []
    info_path = run / "run_info.yaml"
    rates = []
    metrics = run / "csv" / "metrics.csv"
    if metrics.is_file():
        with open(metrics, newline="") as f:
            rates = [
                float(r["train/img_per_s"]) for r in csv.DictReader(f) if r.get("train/img_per_s")
            ]
    rate = None
    if info_path.is_file():  # metrics recorded where the schedule ran to its end
        info = yaml.safe_load(info_path.read_text()) or {}
        rate = (info.get("metrics") or {}).get("train/img_per_s")
    if rate is not None:
        figures.append(f"{float(rate):.1f} img/s (run_info.yaml, last epoch)")
    elif rates:
        figures.append(f"{rates[-1]:.1f} img/s (metrics.csv, last epoch)")
    if len(rates) > 1:
        figures.append(
            f"median {statistics.median(rates[1:]):.1f} img/s over epochs 2-{len(rates)}"
        )
    steps = None
    peak = run / PEAK_FILE
    if peak.is_file():
        record = json.loads(peak.read_text())
        steps = record.get("global_step")
        if steps and record.get("train_seconds"):
            figures.append(
                f"{steps} steps in {record['train_seconds']:.0f} s "
                f"({steps * batch / record['train_seconds']:.1f} img/s overall)"
            )
        if "peak_allocated_mib" in record:
            figures.append(
                f"peak {record['peak_allocated_mib'] / 1024:.1f} GiB allocated "
                f"({record['peak_reserved_mib'] / 1024:.1f} reserved)"
            )
        else:
            figures.append("peak memory: no CUDA")
    elif figures:
        figures.append("peak memory not recorded")
    return figures, steps


def _crf_commands(plan: Plan, timeout: float) -> list[Command]:
    h, w = plan.crf_size
    args = [
        "crf",
        "--frames",
        str(plan.crf_frames),
        "--size",
        str(h),
        str(w),
        "--device",
        plan.device,
        "--json",
        str(plan.work / "crf.json"),
    ]
    return [Command("crf", "part", args)]


def _crf_run(plan: Plan, runner: Runner, timeout: float) -> Result:
    (command,) = _crf_commands(plan, timeout)
    done = runner.run(command, timeout)
    path = plan.work / "crf.json"
    if done.rc != 0 or not path.is_file():
        return Result(failure(done), "", done.seconds)
    r = json.loads(path.read_text())
    figures = (
        f"{r['frames']}×{r['size'][0]}×{r['size'][1]}, {r['classes']} classes, "
        f"{r['iterations']} it.: CPU {r['cpu_ms']:.1f} ms/img, {r['device']} "
        f"{r['gpu_ms']:.1f} ms/img ({r['cpu_ms'] / r['gpu_ms']:.1f}x); max abs Δp "
        f"{r['max_abs_diff']:.1e}, labels agree {100 * r['label_agreement']:.3f}%"
    )
    ok = r["max_abs_diff"] <= 1e-3 and r["label_agreement"] >= 0.999
    status = "OK" if ok else "FAILED (CUDA and CPU differ beyond 1e-3 / 99.9% labels)"
    return Result(status, figures, done.seconds)


def _resume_commands(plan: Plan, timeout: float) -> list[Command]:
    first = plan.work / "resume_first"
    commands = [
        Command(
            "resume_first",
            "train",
            [*resume_overrides(plan, "resume_first"), "stop_after_epochs=1"],
        ),
        Command("resume_continued", "train", [f"resume={first}", "stop_after_epochs=null"]),
        Command("resume_scratch", "train", resume_overrides(plan, "resume_scratch")),
    ]
    if plan.rerun:
        commands.append(Command("resume_rerun", "train", resume_overrides(plan, "resume_rerun")))
    for command in commands:
        command.env = dict(DETERMINISTIC_ENV)
    return commands


def _resume_run(plan: Plan, runner: Runner, timeout: float) -> Result:
    commands = _resume_commands(plan, timeout)
    deadline = time.perf_counter() + timeout
    seconds = 0.0
    for i, command in enumerate(commands):
        left = deadline - time.perf_counter()
        if left < 10:
            return Result(f"FAILED (budget spent before {command.label})", "", seconds)
        done = runner.run(
            command, left if i == len(commands) - 1 else left * 1.5 / (len(commands) - i)
        )
        seconds += done.seconds
        if done.rc != 0:
            return Result(failure(done, f", {command.label}"), "", seconds)
    status, figures = compare_resume(plan)
    return Result(status, figures, seconds)


def compare_resume(plan: Plan) -> tuple[str, str]:
    """The tests' check (tests/test_fault_tolerance.py): the resumed run's last.ckpt at
    the same step as the uninterrupted run's, max |Δw| ≤ 1e-6 (or within 10× the GPU's own
    run-to-run difference, measured by the rerun), val/mIoU per epoch equal."""
    runs = {k: plan.work / f"resume_{k}" for k in ("first", "scratch", "rerun")}
    a = _load(runs["first"] / "checkpoints" / "last.ckpt")
    b = _load(runs["scratch"] / "checkpoints" / "last.ckpt")
    want = 2 * plan.resume_steps
    delta = max_weight_difference(a["state_dict"], b["state_dict"])
    figures = [
        f"steps {a['global_step']}/{b['global_step']} (want {want})",
        f"max abs Δw resumed vs scratch {delta:.1e}",
    ]
    floor = 0.0
    rerun = runs["rerun"] / "checkpoints" / "last.ckpt"
    if plan.rerun and rerun.is_file():
        floor = max_weight_difference(_load(rerun)["state_dict"], b["state_dict"])
        figures.append(f"scratch vs scratch {floor:.1e}")
    miou_a, miou_b = (_per_epoch(r) for r in (runs["first"], runs["scratch"]))
    if miou_a and len(miou_a) == len(miou_b):
        worst = max(abs(x - y) for x, y in zip(miou_a, miou_b))
        figures.append(f"val/mIoU per epoch max abs Δ {worst:.1e}")
    limit = max(1e-6, 10 * floor)
    ok = a["global_step"] == b["global_step"] == want and delta <= limit
    why = f"FAILED (steps differ or max abs Δw > {limit:.0e})"
    return ("OK" if ok else why), "; ".join(figures)


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def max_weight_difference(a: dict, b: dict) -> float:
    return max(
        (
            float((a[k].float() - v.float()).abs().max())
            for k, v in b.items()
            if v.is_floating_point()
        ),
        default=0.0,
    )


def _per_epoch(run: Path, key: str = "val/mIoU") -> list[float]:
    path = run / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


def _export_commands(plan: Plan, timeout: float) -> list[Command]:
    size = str(plan.export_size)
    export = [
        f"ckpt_path={export_ckpt(plan)}",
        f"out={onnx_path(plan)}",
        f"height={size}",
        f"width={size}",
    ]
    parity = [
        "onnx_parity",
        "--ckpt",
        str(export_ckpt(plan)),
        "--onnx",
        str(onnx_path(plan)),
        "--size",
        size,
        size,
        "--device",
        plan.device,
        "--json",
        str(plan.work / "onnx_parity.json"),
    ]
    return [Command("onnx_export", "export", export), Command("onnx_parity", "part", parity)]


def _export_run(plan: Plan, runner: Runner, timeout: float) -> Result:
    if not export_ckpt(plan).is_file():
        return Result(f"SKIPPED (no checkpoint: step 4 wrote no {export_ckpt(plan).name})")
    export, parity = _export_commands(plan, timeout)
    deadline = time.perf_counter() + timeout
    done = runner.run(export, timeout * 0.7)
    if done.rc != 0:
        return Result(failure(done, ", seglab-export"), "", done.seconds)
    seconds = done.seconds
    done = runner.run(parity, max(10.0, deadline - time.perf_counter()))
    seconds += done.seconds
    path = plan.work / "onnx_parity.json"
    if done.rc != 0 or not path.is_file():
        return Result(failure(done, ", parity"), "", seconds)
    r = json.loads(path.read_text())
    figures = (
        f"ONNX Runtime {r['provider']} vs PyTorch {r['torch_device']} at "
        f"{r['size'][0]}×{r['size'][1]}: max abs Δ {r['max_abs_diff']:.1e} (relative "
        f"{r['rel_diff']:.1e}), labels agree {100 * r['label_agreement']:.3f}%"
    )
    from seglab.run.exporting import TOLERANCES

    ok = r["rel_diff"] <= TOLERANCES["onnx"]
    return Result("OK" if ok else f"FAILED (relative {r['rel_diff']:.1e} > 1e-4)", figures, seconds)


def _bench(mode: str) -> tuple[Callable, Callable]:
    return _bench_commands(mode), _bench_run(mode)


def _train(key: str) -> tuple[Callable, Callable]:
    return _train_commands(key), _train_run(key)


# in the order they run: torch.compile last, with what the others left (its compile time
# varies most); the summary lists them by key. Shares of the budget: what each gets of
# the time left when it starts, against the shares of the steps still to run.
STEPS = [
    Step("1a", "bench: seglab vs torchvision", 0.12, *_bench("compare")),
    Step("1b", "bench: fast paths", 0.06, *_bench("fast")),
    Step("2a", "train FCN-8s", 0.10, *_train("train_fcn8s")),
    Step("2b", "train DeepLab v3 R-101", 0.20, *_train("train_deeplab_v3")),
    Step("3", "torch CRF: CUDA vs CPU", 0.05, _crf_commands, _crf_run),
    Step("4", "DDP (1 GPU) exact resume", 0.22, _resume_commands, _resume_run),
    Step("5", "ONNX export: CUDA parity", 0.13, _export_commands, _export_run),
    Step("1c", "bench: torch.compile", 0.12, *_bench("compile")),
]


# --------------------------------------------------------------------------- parts
def crf_part(frames: int, size: tuple[int, int], device: str, iterations: int = 10) -> dict:
    """The torch CRF (crf=torch's defaults) on the CPU and on ``device``, same inputs:
    generated frames (``seglab.data.synthetic``) with smooth random probabilities."""
    from torch.nn import functional as F

    from seglab.crf import TorchDenseCRF
    from seglab.data.synthetic import make_sample
    from seglab.dev.bench_crf import timed

    h, w = size
    classes = 11  # CamVid's, as scripts/bench_crf.py
    raw = torch.stack([torch.from_numpy(make_sample(i, (h, w), 5)[0]) for i in range(frames)])
    g = torch.Generator().manual_seed(0)
    coarse = torch.randn(frames, classes, max(1, h // 8), max(1, w // 8), generator=g) * 3
    probs = F.interpolate(coarse, size=(h, w), mode="bilinear").softmax(1)
    crf = TorchDenseCRF(iterations=iterations)
    cpu_ms = timed(crf, probs, raw, 1)
    on_cpu = crf(probs, raw)
    target = torch.device(device)
    gpu_ms = timed(crf, probs.to(target), raw.to(target), 3)
    on_gpu = crf(probs.to(target), raw.to(target)).cpu()
    return {
        "frames": frames,
        "size": [h, w],
        "classes": classes,
        "iterations": iterations,
        "device": torch.cuda.get_device_name() if target.type == "cuda" else str(target),
        "cpu_ms": cpu_ms,
        "gpu_ms": gpu_ms,
        "max_abs_diff": float((on_cpu - on_gpu).abs().max()),
        "label_agreement": float((on_cpu.argmax(1) == on_gpu.argmax(1)).float().mean()),
    }


def onnx_parity_part(ckpt: str, onnx: str, size: tuple[int, int], device: str) -> dict:
    """ONNX Runtime (CUDA provider where it loads, else the CPU) against the checkpoint's
    network in PyTorch on ``device``, fp32 without TF32 on both sides, same input."""
    import onnxruntime as ort

    from seglab.deploy.onnx_runtime import session_options
    from seglab.models.inference import InferenceNet
    from seglab.run.exporting import relative_difference
    from seglab.run.restore import restore

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    restored = restore(ckpt)
    module = restored.model.eval()
    net = InferenceNet(module.net, restored.data.space, module.tta_scales, module.tta_flip)
    net = net.to(device).eval()
    pixels = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        want = net(pixels.to(device)).float().cpu().numpy()
    providers: list[Any] = ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"use_tf32": 0}))
    try:
        session = ort.InferenceSession(onnx, session_options(ort), providers=providers)
    except Exception:  # noqa: BLE001  (a build without the use_tf32 option)
        plain = [p[0] if isinstance(p, tuple) else p for p in providers]
        session = ort.InferenceSession(onnx, session_options(ort), providers=plain)
    got = session.run(None, {session.get_inputs()[0].name: pixels.numpy()})[0]
    return {
        "provider": session.get_providers()[0],
        "available": ort.get_available_providers(),
        "torch_device": torch.cuda.get_device_name() if device == "cuda" else device,
        "size": list(size),
        "max_abs_diff": float(abs(got - want).max()),
        "rel_diff": relative_difference(got, want),
        "label_agreement": float((got.argmax(1) == want.argmax(1)).mean()),
    }


def part_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE} --part")
    parts = parser.add_subparsers(dest="part", required=True)
    crf = parts.add_parser("crf")
    crf.add_argument("--frames", type=int, default=8)
    crf.add_argument("--size", type=int, nargs=2, default=[360, 480])
    parity = parts.add_parser("onnx_parity")
    parity.add_argument("--ckpt", required=True)
    parity.add_argument("--onnx", required=True)
    parity.add_argument("--size", type=int, nargs=2, default=[512, 512])
    for p in (crf, parity):
        p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
        p.add_argument("--json", required=True, help="where the figures go")
    return parser


def run_part(argv: list[str]) -> int:
    args = part_parser().parse_args(argv)
    if args.part == "crf":
        if min(args.size) < 8 or args.frames < 1:
            raise SystemExit("crf: --frames ≥ 1 and --size ≥ 8×8")
        result = crf_part(args.frames, tuple(args.size), args.device)
    else:
        result = onnx_parity_part(args.ckpt, args.onnx, tuple(args.size), args.device)
    Path(args.json).write_text(json.dumps(result))
    print(json.dumps(result, indent=1))
    return 0


# --------------------------------------------------------------------------- dry run
def parsed(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """``args`` through ``parser``; its error line as a ValueError instead of an exit."""
    with contextlib.redirect_stderr(io.StringIO()) as errors:
        try:
            return parser.parse_args(args)
        except SystemExit:
            raise ValueError(errors.getvalue().strip().splitlines()[-1]) from None


def check_command(command: Command) -> None:
    """Raise with the reason where ``command`` would not start as written."""
    from seglab.run.validate import check_command_line

    if command.kind in ("train", "export"):
        config = "train" if command.kind == "train" else "export"
        check_command_line(config, command.check_args or command.args)
    elif command.kind == "bench":
        from seglab.run.config import compose_config

        args = parsed(bench_train.parser(), command.args)
        unknown = sorted(set(args.models) - set(bench_train.PAIRS))
        if unknown:
            pairs = sorted(bench_train.PAIRS)
            raise ValueError(f"--models {' '.join(unknown)}: not a pair of {pairs}")
        if args.fast_paths:
            compose_config("train", [f"model={args.fast_paths}"])
    else:
        args = parsed(part_parser(), command.args)
        if args.part == "crf":
            from seglab.crf import TorchDenseCRF

            TorchDenseCRF(iterations=10)


def dry_run(plan: Plan, steps: list[Step]) -> tuple[int, dict[str, Result]]:
    from seglab.errors import clean_message
    from seglab.run.resolvers import register_resolvers

    register_resolvers()
    results: dict[str, Result] = {}
    bad = 0
    for step in steps:
        start = time.perf_counter()
        print(f"{step.key} {step.title}:")
        commands = step.commands(plan, plan.budget_s * step.share)
        if step.key == "4":  # the resume line as seglab-train rewrites it
            by_label = {c.label: c for c in commands}
            continued = by_label["resume_continued"]
            continued.check_args = _rewrite_resume(continued, by_label["resume_first"])
        problems = []
        for command in commands:
            print(f"  $ {command.shown()}")
            try:
                check_command(command)
                print("    composes")
            except Exception as exc:  # noqa: BLE001  (any reason a command would not start)
                message = clean_message(exc)
                print(f"    DOES NOT COMPOSE: {message}")
                problems.append(f"{command.label}: {message}")
        if not commands:
            print("    (nothing to run: --no-compile)")
        bad += len(problems)
        figures = "; ".join(problems) if problems else f"{len(commands)} command(s) compose"
        status = "DRY-RUN, does not compose" if problems else "DRY-RUN"
        results[step.key] = Result(status, figures, time.perf_counter() - start)
    return (1 if bad else 0), results


def _rewrite_resume(continued: Command, first: Command) -> list[str]:
    from seglab.run.resume import resume_argv

    folder = next(a.split("=", 1)[1] for a in first.args if a.startswith("hydra.run.dir="))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ".hydra").mkdir()
        saved = [a for a in first.args if not a.startswith("hydra.")]
        (Path(tmp) / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(saved))
        args = [f"resume={tmp}" if a.startswith("resume=") else a for a in continued.args]
        rewritten = resume_argv(args)
    return [f"hydra.run.dir={folder}" if a.startswith("hydra.run.dir=") else a for a in rewritten]


# --------------------------------------------------------------------------- summary
def machine_line() -> str:
    parts = [f"python {sys.version.split()[0]}", f"torch {torch.__version__}"]
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        parts.insert(
            0, f"{torch.cuda.get_device_name()} (sm{major}{minor}, CUDA {torch.version.cuda})"
        )
    else:
        parts.insert(0, "no CUDA device")
    try:
        import onnxruntime as ort

        providers = ", ".join(
            p.removesuffix("ExecutionProvider") for p in ort.get_available_providers()
        )
        parts.append(f"onnxruntime {ort.__version__} ({providers})")
    except ImportError:
        parts.append("onnxruntime not installed")
    return "; ".join(parts)


def summary(
    plan: Plan, steps: list[Step], results: dict[str, Result], wall: float, dry: bool
) -> str:
    title = "seglab GPU check" + (" (dry run: nothing ran)" if dry else "")
    lines = [
        f"==== {title} ====",
        f"machine: {machine_line()}",
        f"budget {plan.budget_s:.0f} s; total wall time {wall:.1f} s",
        "",
        "| step | status | figures | s |",
        "|---|---|---|---|",
    ]
    for step in sorted(steps, key=lambda s: s.key):
        r = results.get(step.key, Result())
        figures = r.figures.replace("|", "/")
        lines.append(f"| {step.key} {step.title} | {r.status} | {figures} | {r.seconds:.1f} |")
    details = [
        d for s in sorted(steps, key=lambda s: s.key) for d in results.get(s.key, Result()).details
    ]
    if details:
        lines += ["", "details:", *details]
    if not dry:
        lines += ["", f"logs: {plan.out / 'logs' if plan.out else plan.work / 'logs'}"]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/gpu_check.sh",
        description="seglab's prepared GPU check: benches, bf16 trainings, CRF, exact "
        "resume and ONNX parity on one GPU within a time budget; one summary at the end.",
    )
    p.add_argument("--dry-run", action="store_true", help="compose every command, run none")
    p.add_argument("--out", type=Path, help="gpu_check.txt and logs/ here (default: $OUT if set)")
    p.add_argument("--work", type=Path, help="run folders (default: a new temporary folder)")
    p.add_argument("--budget-s", type=float, default=480.0, help="the whole check's seconds")
    p.add_argument("--only", help="comma-separated step keys or prefixes, e.g. 2,3 or 1a,4,5")
    p.add_argument("--steps", type=int, default=200, help="training steps of step 2")
    p.add_argument("--fcn-size", type=int, default=500)
    p.add_argument("--fcn-batch", type=int, default=1)
    p.add_argument("--deeplab-size", type=int, default=513)
    p.add_argument("--deeplab-batch", type=int, default=16, help="the paper's 16; lower it to fit")
    p.add_argument("--workers", type=int, default=6, help="data.num_workers of step 2")
    p.add_argument("--bench-size", type=int, default=512)
    p.add_argument("--bench-batch", type=int, default=8)
    p.add_argument("--bench-steps", type=int, default=3)
    p.add_argument("--bench-repeats", type=int, default=3)
    p.add_argument("--no-compile", action="store_true", help="leave out step 1c")
    p.add_argument("--crf-frames", type=int, default=8)
    p.add_argument("--resume-steps", type=int, default=20, help="N: N steps, then 2N")
    p.add_argument("--no-rerun", action="store_true", help="step 4 without the noise-floor run")
    p.add_argument("--export-size", type=int, default=512)
    p.add_argument(
        "--extra-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="added to every seglab-train command (repeatable)",
    )
    p.add_argument(
        "--device",
        default="cuda",
        choices=["cuda", "cpu"],
        help="cpu: trainer=cpu / ddp_cpu, to try the check's plumbing on a machine without GPU",
    )
    return p


def make_plan(args: argparse.Namespace) -> Plan:
    out = args.out or (Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    if args.work:
        work = args.work
    elif args.dry_run:
        work = Path(tempfile.gettempdir()) / "seglab_gpu_check"
    else:
        work = Path(tempfile.mkdtemp(prefix="seglab_gpu_check_"))
    own = {"compile", "rerun", "extra", "work", "out", "only"}  # not copied as given
    same = {f.name: getattr(args, f.name) for f in fields(Plan)
            if f.name not in own and hasattr(args, f.name)}  # fmt: skip
    return Plan(
        **same,
        compile=not args.no_compile,
        rerun=not args.no_rerun,
        extra=list(args.extra_override),
        work=work.resolve(),
        out=out.resolve() if out else None,
        only=args.only.split(",") if args.only else None,
    )


def chosen(plan: Plan) -> list[Step]:
    if not plan.only:
        return list(STEPS)
    return [s for s in STEPS if any(s.key.startswith(o.strip()) for o in plan.only)]


def run_all(plan: Plan, steps: list[Step], started: float) -> tuple[int, dict[str, Result]]:
    """Every step in turn, each with its share of the time left: the budget counts from
    ``started``, less ``RESERVE_S`` for what runs outside it (the wrapper's checks, this
    module's imports, the summary)."""
    runner = Runner(sys.executable, (plan.out or plan.work) / "logs")
    results: dict[str, Result] = {}
    deadline = started + plan.budget_s - RESERVE_S
    for i, step in enumerate(steps):
        left = deadline - time.perf_counter()
        shares = sum(s.share for s in steps[i:])
        timeout = left * step.share / shares
        if timeout < 10:
            results[step.key] = Result(f"SKIPPED (budget spent: {left:.0f} s left)")
            continue
        print(f"[gpu_check] step {step.key} {step.title}: {timeout:.0f} s", flush=True)
        start = time.perf_counter()
        try:
            result = step.run(plan, runner, timeout)
        except Exception as exc:  # noqa: BLE001  (a step's failure must not stop the rest)
            result = Result(f"FAILED ({type(exc).__name__}: {str(exc)[:200]})")
        result.seconds = time.perf_counter() - start
        results[step.key] = result
        print(f"[gpu_check] step {step.key}: {result.status}", flush=True)
    ok = all(r.status == "OK" or r.status.startswith("SKIPPED (--") for r in results.values())
    return (0 if ok else 1), results


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--part"]:
        return run_part(argv[1:])
    args = parser().parse_args(argv)
    plan = make_plan(args)
    steps = chosen(plan)
    if not steps:
        print(f"gpu_check: --only {args.only}: no such step ({', '.join(s.key for s in STEPS)})")
        return 2
    if args.dry_run:
        status, results = dry_run(plan, steps)
    elif plan.device == "cuda" and not torch.cuda.is_available():
        print(
            f"gpu_check: {sys.executable} sees no CUDA device (torch {torch.__version__}, "
            f"built for CUDA {torch.version.cuda}); nothing ran. --dry-run composes the "
            "commands; --device cpu tries the plumbing on the CPU."
        )
        status = 2
        results = {s.key: Result("SKIPPED (no CUDA device)") for s in steps}
    else:
        plan.work.mkdir(parents=True, exist_ok=True)
        status, results = run_all(plan, steps, started)
    text = summary(plan, steps, results, time.perf_counter() - started, args.dry_run)
    print("\n" + text, flush=True)
    if plan.out:
        plan.out.mkdir(parents=True, exist_ok=True)
        (plan.out / "gpu_check.txt").write_text(text + "\n")
        print(f"summary written to {plan.out / 'gpu_check.txt'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
