"""What seglab's training loop costs per step against a bare PyTorch loop, for
``scripts/bench_loop.py``.

Each workload trains the same network, loss, optimizer, batch size and data loader for
the same number of steps two ways, alternating over the repeats:

- **seglab**: ``seglab-train``'s own path in this process: the config composed as the
  command line would compose it, with Hydra's runtime set as ``hydra.main`` sets it (a
  temporary run folder), then ``check`` and ``seglab.run.lifecycle.train``, i.e. the
  run's records, data module, ``SegmentationModule``, every callback of the config
  (checkpoints, progress bar, throughput, epoch summary, W&B dashboard …) and its loggers
  (CSV and W&B, offline into a temporary ``WANDB_DIR``), with ``trainer.max_steps`` =
  warm-up + timed steps, validation off (``trainer.limit_val_batches=0``) and no test.
  A callback of this module (``StepClock``, added as ``+callbacks.bench_clock``) takes
  the times.
- **bare**: the same config's ``model.net``, ``model.loss`` (the module's
  ``training_loss``: fused logits, MSc scales, auxiliary head), optimizer (its parameter
  groups as seglab builds them, no schedule) and ``data`` module's training loader, in a
  plain ``for`` loop: ``torch.manual_seed``, ``net.train()``, forward, loss, zero_grad,
  backward, step.

Both are timed the same way: a step is the wall time from the end of the previous step
(for an epoch's first step: from the epoch's start, so data loading and the iterator's
start are in) to the end of its optimizer step (for seglab: ``on_train_batch_end``, after
the step's callbacks; Lightning's logging of a step lands in the next step). The first
``warmup`` steps of every run are not counted; epoch-end work (the checkpoint written
when an epoch ends) falls between steps and is not counted either. img/s = images of the
timed steps / their summed time, the median over the repeats.

The split of a step: forward (the net and the loss module, from forward hooks), backward
(``loss.backward()``: ``on_before_backward`` → ``on_after_backward``), optimizer
(``zero_grad``: ``on_before_zero_grad`` → ``on_before_backward``; the update:
``on_before_optimizer_step`` → the optimizer's step post-hook) and the rest of the step's
wall time (data loading, Lightning's loop and hooks, ``self.log``, callbacks, logging,
the schedule); the bare loop takes the same parts with timers around its lines. Wall
clock on the CPU (a CUDA device is synchronised at every mark, which slows it).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, open_dict

from seglab.run.config import compose_config
from seglab.run.lifecycle import train
from seglab.run.validate import check
from seglab.training.optim import Optimization

REPO = Path(__file__).resolve().parents[3]  # the checkout (this file: src/seglab/dev/)
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "data" / "camvid"
CPU_ABLATION = ["experiment=ablation_cpu_base", "crf=off"]  # no CRF: training speed only
# name → (overrides, whether it reads --data-root)
WORKLOADS: dict[str, tuple[list[str], bool]] = {
    "fcn8s": ([*CPU_ABLATION, "+ablation=fcn8s"], True),
    "deeplab_v2": ([*CPU_ABLATION, "+ablation=deeplab_v2"], True),
    "default": ([], False),  # conf/train.yaml: FCN-32s tiny on generated shapes
}
# what the bench sets on every seglab run: the timed training steps and nothing else
BENCH_OVERRIDES = ["trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "test=false"]
PARTS = ("forward", "backward", "optimizer")
MEASURED = (
    "seglab: seglab.run.lifecycle.train on the composed config in this process (callbacks, "
    "checkpoints, CSV + offline W&B loggers), timed by a callback; bare: the same net, loss, "
    "optimizer and DataLoader in a plain loop.",
    "img/s: training steps only, after the warm-up: each from the previous step's end (an "
    "epoch's first: from the epoch's start) to the end of its optimizer step, data loading "
    "included; validation off (trainer.limit_val_batches=0), epoch-end work (checkpoints) "
    "not counted; median over the repeats.",
    "split of seglab's step, % of its wall time: forward (net + loss, forward hooks), "
    "backward (loss.backward), optimizer (zero_grad + step), rest (data loading, Lightning's "
    "loop and hooks, self.log, callbacks, loggers, schedule).",
)


@dataclass
class Steps:
    """The timed steps of one run: their count, images and seconds, and the seconds of
    each part (``PARTS``), summed over them."""

    images: int = 0
    seconds: float = 0.0
    count: int = 0
    parts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))

    def add(self, images: int, seconds: float, parts: dict[str, float]) -> None:
        self.images += images
        self.seconds += seconds
        self.count += 1
        for k in PARTS:
            self.parts[k] += parts[k]

    @property
    def rate(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# StepClocks by key: the callback is built by seglab's config (``+callbacks.bench_clock``)
_CLOCKS: dict[str, StepClock] = {}


class StepClock(Callback):
    """Times the training steps of a seglab run after ``warmup`` steps (``Steps``), and
    their forward / backward / optimizer parts; found again by ``key`` in ``_CLOCKS``."""

    def __init__(self, key: str, warmup: int = 0) -> None:
        self.key, self.warmup = key, warmup
        self.steps = Steps()
        self.batches = 0
        self.prev: float | None = None
        self.marks: dict[str, float] = {}
        self.parts = dict.fromkeys(PARTS, 0.0)
        self.handles: list[Any] = []
        self.device = torch.device("cpu")
        _CLOCKS[key] = self

    def now(self) -> float:
        _sync(self.device)
        return time.perf_counter()

    def _start(self, name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            self.marks[name] = self.now()

        return hook

    def _stop(self, name: str, part: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            started = self.marks.pop(name, None)
            if started is not None:
                self.parts[part] += self.now() - started

        return hook

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.device = pl_module.device
        for name in ("net", "loss"):  # the module's forward: its net, then its loss
            module = getattr(pl_module, name)
            self.handles.append(module.register_forward_pre_hook(self._start(name)))
            self.handles.append(module.register_forward_hook(self._stop(name, "forward")))
        for optimizer in trainer.optimizers:
            self.handles.append(optimizer.register_step_post_hook(self._stop("step", "optimizer")))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.prev = self.now()

    def on_before_zero_grad(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any
    ) -> None:
        self.marks["zero_grad"] = self.now()

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        self._stop("zero_grad", "optimizer")()
        self.marks["backward"] = self.now()

    def on_after_backward(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop("backward", "backward")()

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any
    ) -> None:
        self.marks["step"] = self.now()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        end = self.now()
        if self.batches >= self.warmup and self.prev is not None:
            self.steps.add(batch["image"].shape[0], end - self.prev, self.parts)
        self.batches += 1
        self.prev = end
        self.parts = dict.fromkeys(PARTS, 0.0)
        self.marks = {}


@contextlib.contextmanager
def isolated_process_state(wandb_dir: str) -> Iterator[None]:
    """What a run changes in the process (environment: W&B offline into ``wandb_dir``,
    its cache too, Lightning's seed variable; Hydra's runtime; torch's matmul
    precision), put back."""
    env = dict(os.environ)
    precision = torch.get_float32_matmul_precision()
    os.environ.update({"WANDB_MODE": "offline", "WANDB_DIR": wandb_dir, "WANDB_SILENT": "true",
                       "WANDB_CACHE_DIR": f"{wandb_dir}/cache"})  # fmt: skip
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(env)
        torch.set_float32_matmul_precision(precision)
        HydraConfig.instance().cfg = None
        GlobalHydra.instance().clear()


def seglab_run(overrides: Sequence[str], run_dir: Path, key: str, warmup: int) -> Steps:
    """One ``seglab-train`` run in this process (as ``seglab.cli.train`` runs it after
    Hydra composed the config, in ``run_dir``): its timed steps."""
    clock = [
        f"+callbacks.bench_clock._target_={StepClock.__module__}.StepClock",
        f"+callbacks.bench_clock.key={key}",
        f"+callbacks.bench_clock.warmup={warmup}",
    ]
    cfg = compose_config("train", [*overrides, *clock], return_hydra_config=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)  # what hydra.main's run_job sets
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # a task function gets the config without it
    try:
        check(cfg)  # seglab.cli.train's task function: check, matmul precision, train
        torch.set_float32_matmul_precision(cfg.get("matmul_precision", "highest"))
        # the run's console output (model summary, progress bar) still renders, on
        # stderr: stdout keeps the table
        with contextlib.redirect_stdout(sys.stderr):
            train(cfg)
    finally:
        HydraConfig.instance().cfg = None
    return _CLOCKS.pop(key).steps


def autocast_dtype(precision: Any) -> torch.dtype | None:
    """The autocast dtype of Lightning's ``trainer.precision`` (the bare loop's)."""
    name = str(precision)
    if name in ("32", "32-true"):
        return None
    if name == "bf16-mixed":
        return torch.bfloat16
    raise ValueError(f"trainer.precision={name}: the bare loop runs 32-true or bf16-mixed")


class BareLoop:
    """The config's net, loss, optimizer and training loader in a plain PyTorch loop."""

    def __init__(self, cfg: DictConfig) -> None:
        torch.manual_seed(cfg.seed)
        accelerator = str(cfg.trainer.get("accelerator", "cpu"))
        gpu = accelerator in ("gpu", "cuda") or (
            accelerator == "auto" and torch.cuda.is_available()
        )
        self.device = torch.device("cuda" if gpu else "cpu")
        self.dtype = autocast_dtype(cfg.trainer.get("precision", "32-true"))
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        self.loader = datamodule.train_dataloader()
        self.net = instantiate(cfg.model.net).to(self.device)
        self.channels_last = bool(cfg.get("channels_last", False))
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        compile_options = cfg.get("compile", False)
        if compile_options:
            options = compile_options if isinstance(compile_options, Mapping) else {}
            self.net.compile(**dict(options))
        self.loss_fn = instantiate(cfg.model.loss).to(self.device)
        self.aux_weight = float(cfg.model.get("aux_loss_weight", 0.4))
        optimization = Optimization(
            instantiate(cfg.model.optimizer), None, cfg.model.get("param_groups")
        )
        self.optimizer = optimization.configure(self.net, lambda: 1)  # no schedule: optimizer

    def loss(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``SegmentationModule.training_loss``, written out."""
        out = self.net(image, keep_stride=True)
        loss = self.loss_fn(out["out"], mask)
        if len(out["scales"]) > 1:
            for logits in out["scales"]:
                loss = loss + self.loss_fn(logits, mask)
        if out["aux"] is not None:
            loss = loss + self.aux_weight * self.loss_fn(out["aux"], mask)
        return loss

    def run(self, warmup: int, steps: int) -> Steps:
        """``warmup`` + ``steps`` steps from a fresh iterator: the last ``steps`` timed."""
        timed, device = Steps(), self.device

        def now() -> float:
            _sync(device)
            return time.perf_counter()

        self.net.train()
        prev = now()
        batches = iter(self.loader)
        for i in range(warmup + steps):
            try:
                batch = next(batches)
            except StopIteration:  # a new epoch
                prev = now()
                batches = iter(self.loader)
                batch = next(batches)
            image = batch["image"].to(device, non_blocking=True)
            mask = batch["mask"].to(device, non_blocking=True)
            if self.channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            t_data = now()
            with torch.autocast(device.type, dtype=self.dtype or torch.float32,
                                enabled=self.dtype is not None):  # fmt: skip
                loss = self.loss(image, mask)
            t_forward = now()
            self.optimizer.zero_grad(set_to_none=True)
            t_zero = now()
            loss.backward()
            t_backward = now()
            self.optimizer.step()
            end = now()
            if i >= warmup:
                parts = {"forward": t_forward - t_data, "backward": t_backward - t_zero,
                         "optimizer": (t_zero - t_forward) + (end - t_backward)}  # fmt: skip
                timed.add(image.shape[0], end - prev, parts)
            prev = end
        return timed


def workload_overrides(name: str, data_root: str | Path, extra: Sequence[str]) -> list[str]:
    overrides, reads_data = WORKLOADS[name]
    data = [f"data.root={Path(data_root).resolve()}"] if reads_data else []
    return [*overrides, *data, *extra]


def machine_line() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()} cores" + (f" ({usable} usable)" if usable else "")
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"machine: {model}, {cores}, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, lightning {L.__version__}{gpu}")  # fmt: skip


@dataclass
class Result:
    """One workload: per-repeat seglab and bare steps, the batch size."""

    name: str
    batch: int
    seglab: list[Steps]
    bare: list[Steps]

    def split(self, loop: str) -> tuple[float, dict[str, float]]:
        """(ms per step, each part's ms per step incl. ``rest``) over all repeats."""
        runs = self.seglab if loop == "seglab" else self.bare
        count = sum(r.count for r in runs)
        total = sum(r.seconds for r in runs)
        parts = {k: sum(r.parts[k] for r in runs) for k in PARTS}
        parts["rest"] = total - sum(parts.values())
        return 1e3 * total / count, {k: 1e3 * v / count for k, v in parts.items()}


def measure(
    name: str,
    data_root: str | Path,
    extra: Sequence[str],
    warmup: int,
    steps: int,
    repeats: int,
    workdir: Path,
) -> Result:
    """seglab's loop and the bare loop of one workload, alternating in every repeat."""
    overrides = [*workload_overrides(name, data_root, extra), *BENCH_OVERRIDES,
                 f"trainer.max_steps={warmup + steps}"]  # fmt: skip
    cfg = compose_config("train", overrides)
    bare = BareLoop(cfg)
    result = Result(name, int(cfg.data.batch_size), [], [])
    for r in range(repeats):
        key = f"{name}-{r}"
        timed = seglab_run(overrides, workdir / key, key, warmup)
        if timed.count != steps:
            raise RuntimeError(f"{name}: seglab trained {timed.count} timed steps, not {steps}")
        result.seglab.append(timed)
        result.bare.append(bare.run(warmup, steps))
    return result


def rows(result: Result) -> Iterator[str]:
    sl = statistics.median(r.rate for r in result.seglab)
    bare = statistics.median(r.rate for r in result.bare)
    ms, parts = result.split("seglab")
    pct = " ".join(f"{100 * parts[k] / ms:8.1f}" for k in (*PARTS, "rest"))
    yield f"{result.name:12} {result.batch:5d} {sl:12.2f} {bare:10.2f} {sl / bare:6.3f}  {pct}"


def split_rows(result: Result) -> Iterator[str]:
    for loop in ("seglab", "bare"):
        ms, parts = result.split(loop)
        cells = " ".join(f"{parts[k]:9.1f}" for k in (*PARTS, "rest"))
        yield f"{result.name if loop == 'seglab' else '':12} {loop:6} {ms:9.1f} {cells}"


def report(
    workloads: Sequence[str] = tuple(WORKLOADS),
    data_root: str | Path = DEFAULT_DATA_ROOT,
    warmup: int = 5,
    steps: int = 30,
    repeats: int = 3,
    overrides: Sequence[str] = (),
) -> Iterator[str]:
    """The header, then each workload's row once it is measured, then the ms split."""
    yield machine_line()
    yield (f"{steps} timed steps after {warmup} warm-up step(s) per run, {repeats} repeat(s), "
           f"alternating seglab / bare")  # fmt: skip
    yield from MEASURED
    yield (f"{'workload':12} {'batch':>5} {'seglab img/s':>12} {'bare img/s':>10} "
           f"{'ratio':>6}  {'fwd %':>8} {'bwd %':>8} {'optim %':>8} {'rest %':>8}")  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory(prefix="seglab-bench-loop-") as tmp:
        work = Path(tmp)
        with isolated_process_state(str(work / "wandb")):
            (work / "wandb").mkdir()
            for name in workloads:
                result = measure(name, data_root, overrides, warmup, steps, repeats, work)
                results.append(result)
                yield from rows(result)
    yield "ms per step (all repeats): the same parts, seglab's and the bare loop's"
    yield (f"{'workload':12} {'loop':6} {'step':>9} {'forward':>9} {'backward':>9} "
           f"{'optimizer':>9} {'rest':>9}")  # fmt: skip
    for result in results:
        yield from split_rows(result)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="img/s of seglab-train's loop against a bare PyTorch loop, same "
        "net, loss, optimizer, data and steps; the split of seglab's step."
    )
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS),
                        default=list(WORKLOADS))  # fmt: skip
    parser.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT),
                        help="CamVid, for fcn8s and deeplab_v2 (default: %(default)s)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first, per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="config overrides for every workload")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--steps and --repeats must be at least 1, --warmup at least 0")
    for line in report(args.workloads, args.data_root, args.warmup, args.steps, args.repeats,
                       args.overrides):  # fmt: skip
        print(line, flush=True)
