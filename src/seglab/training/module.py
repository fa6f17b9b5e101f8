"""SegmentationModule: loss, forward, torchmetrics and the CRF gate for any segmenter."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from seglab.data.input_space import image_of, space_of
from seglab.errors import ConfigError
from seglab.models.inference import slide_logits, tta_logits
from seglab.models.weights import init_from_checkpoint
from seglab.tracking import names
from seglab.training.metrics import SegMetrics
from seglab.training.optim import Optimization, total_steps

log = logging.getLogger(__name__)


def labels_of(scores: Tensor) -> Tensor:
    """Per-pixel argmax over classes (B×C×H×W → B×H×W), first index on ties as argmax.
    ``max(dim=1)`` walks the contiguous class planes; ``argmax(dim=1)`` is a strided
    reduction, ~9x slower on CPUs for 360x480 frames (3.5 s vs 0.37 s on CamVid val)."""
    return scores.max(dim=1).indices


EVAL_MODES = ("whole", "slide")


def _size(key: str, value: Any) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else ()
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ConfigError(f"{key}={value}: give [H, W], two positive integers (pixels).")
    if min(pair) < 1:
        raise ConfigError(f"{key}={list(pair)}: both sides must be at least 1 pixel.")
    return pair


def slide_protocol(
    eval_mode: str, slide: Mapping[str, Any] | None, key: str = "model.slide"
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``(crop, stride)`` of ``eval_mode=slide`` (None for ``whole``), checked: a crop
    [H, W], a stride no larger than it (null: two thirds of the crop, rounded, which is
    mmseg's 769 → 513 and 512 → 341). A window given with ``whole`` is checked too.
    ``key`` names the window in errors (seglab-eval's is ``slide``)."""
    if eval_mode not in EVAL_MODES:
        raise ConfigError(f"model.eval_mode={eval_mode!r}: give whole or slide.")
    slide = slide or {}
    if slide.get("crop") is None:
        if eval_mode == "slide":
            raise ConfigError(
                "model.eval_mode=slide needs model.slide.crop=[H,W], the window (mmseg's "
                "Cityscapes protocol: [769,769] with model.slide.stride=[513,513])."
            )
        return None
    crop = _size(f"{key}.crop", slide["crop"])
    if slide.get("stride") is None:
        stride = (round(crop[0] * 2 / 3), round(crop[1] * 2 / 3))
    else:
        stride = _size(f"{key}.stride", slide["stride"])
    if stride[0] > crop[0] or stride[1] > crop[1]:
        raise ConfigError(
            f"{key}.stride={list(stride)} is larger than {key}.crop={list(crop)}: "
            "windows would leave pixels unscored; give a stride no larger than the crop."
        )
    return (crop, stride) if eval_mode == "slide" else None


class SegmentationModule(L.LightningModule):
    """Trains ``net`` (B×3×H×W → B×C×H×W logits) and measures it.

    ``optimizer``, ``scheduler``, ``param_groups`` and ``replan_schedule`` (the model
    config's keys) become a ``seglab.training.optim.Optimization``, which builds the optimizer and
    schedule and re-plans a resumed schedule; the module keeps loss, forward, metrics
    and the CRF gate.

    The training loss is the loss of the fused logits, plus, with MSc
    (``net.msc_scales``), the loss of each scale's logits (DeepLab v2), plus
    ``aux_loss_weight`` × the auxiliary head's. The loss sees the heads' own resolution
    and decides how to meet the labels (``model.loss.target_resolution``).
    ``tta_scales`` / ``tta_flip`` are evaluation-only test-time augmentation.
    ``eval_mode`` is how evaluation covers a frame: ``whole`` (one forward pass) or
    ``slide`` (``slide: {crop, stride}`` windows, scores averaged where they overlap:
    mmseg's Cityscapes protocol); each window gets the test-time views, and the CRF
    refines the softmax of the averaged scores.

    Logged: ``train/loss`` (per step), ``train/loss_epoch``, ``lr``, ``{val,test}/loss``,
    ``{val,test}/mIoU``, ``{val,test}/pixel_acc``, ``{val,test}_iou/<class>``,
    ``val/mIoU_best``. With a ``crf``: also ``{val,test}/mIoU_crf``,
    ``{val,test}/pixel_acc_crf`` and ``{val,test}_iou_crf/<class>`` (in a training run
    at every validation, or with ``crf_val: last`` only at the last epoch's). Throughput, the
    per-epoch log line, W&B layout and examples are callbacks (``seglab.tracking.callbacks``,
    ``seglab.tracking``).
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        num_classes: int,
        ignore_index: int,
        class_names: Sequence[str],
        scheduler: Callable[..., Any] | None = None,
        aux_loss_weight: float = 0.4,
        init_from: str | None = None,
        tta_scales: Sequence[float] = (1.0,),
        tta_flip: bool = False,
        param_groups: Sequence[Mapping[str, Any]] | None = None,
        replan_schedule: bool = False,
        crf: Callable[[Tensor, Tensor], Tensor] | None = None,
        crf_val: str = "every",
        channels_last: bool = False,
        compile: bool | Mapping[str, Any] = False,
        eval_mode: str = "whole",
        slide: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.compile_options = (
            dict(compile) if isinstance(compile, Mapping) else ({} if compile else None)
        )
        self.net, self.loss = net, loss
        self.optimization = Optimization(optimizer, scheduler, param_groups, replan_schedule)
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.class_names = list(class_names)
        self.aux_loss_weight = aux_loss_weight
        self.tta_scales = [float(v) for v in tta_scales]
        self.tta_flip = tta_flip
        self.eval_mode = eval_mode
        self.slide = slide_protocol(eval_mode, slide)  # (crop, stride) or None
        if init_from:  # staged training: FCN-16s from FCN-32s, FCN-8s from FCN-16s
            init_from_checkpoint(self.net, init_from)
        # a CRF refines softmax probabilities with the raw image in val / test, never in the
        # training loss; its metrics are kept apart (``*_crf``) so one run shows the gain
        self.crf = crf
        if crf_val not in ("every", "last"):
            raise ConfigError(f"model.crf_val={crf_val!r}: give every or last.")
        self.crf_val = crf_val
        stages = ("val", "test", "val_crf", "test_crf") if crf is not None else ("val", "test")
        self.metrics = nn.ModuleDict({s: SegMetrics(num_classes, ignore_index) for s in stages})
        self.best_miou: float | None = None
        self.crf_seconds: dict[str, float] = {}  # CRF wall time per stage (PhaseTimes)
        self._compiled = False

    def configure_model(self) -> None:
        """Fast paths, applied once the module is on its device: NHWC memory format
        (faster convolutions with cuDNN / oneDNN at mixed precision) and torch.compile,
        in place (``nn.Module.compile``), so checkpoint keys stay the same."""
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        if self.compile_options is not None and not self._compiled:
            self.net.compile(**self.compile_options)
            self._compiled = True

    def _run_net(self, x: Tensor, **kwargs: Any) -> Tensor | dict[str, Tensor]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        out = self._run_net(x)
        return out["out"] if isinstance(out, dict) else out

    def predict_logits(self, x: Tensor) -> Tensor:
        """Evaluation output: logits, or with test-time augmentation (``tta_scales``,
        ``tta_flip``) the log of the softmax probabilities averaged over all views; with
        ``eval_mode=slide`` those of each window, averaged where windows overlap."""

        def views(window: Tensor) -> Tensor:
            return tta_logits(self, window, self.tta_scales, self.tta_flip)

        if self.slide is None:
            return views(x)
        crop, stride = self.slide
        return slide_logits(views, x, crop, stride)

    # -- training ---------------------------------------------------------------------------
    def on_train_start(self) -> None:
        """A resumed run whose length changed: ``Optimization.resumed`` warns or re-plans."""
        step = self.trainer.global_step
        planned = total_steps(self.trainer) if step else 0
        message = self.optimization.resumed(self.lr_schedulers(), self.optimizers(), planned, step)
        if message:
            self._warn(message)

    def _warn(self, message: str) -> None:
        if self.global_rank == 0:  # console and train.log, once
            log.warning(message)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss = self.training_loss(batch["image"], batch["mask"])
        bs = batch["image"].shape[0]
        self.log(names.TRAIN_LOSS, loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=bs)
        self._epoch_loss_sum = self._epoch_loss_sum + loss.detach().double() * bs
        self._epoch_loss_count += bs
        group = self.optimizers().param_groups[0]
        base_lr = group["lr"] / group["lr_mult"] if group.get("lr_mult") else group["lr"]
        self.log(names.LR, base_lr, on_step=True, batch_size=bs)
        return loss

    def training_loss(self, image: Tensor, mask: Tensor) -> Tensor:
        """Loss of the fused logits + each MSc scale's + the weighted auxiliary loss."""
        out = self._run_net(image, keep_stride=True)
        loss = self.loss(out["out"], mask)
        if len(out["scales"]) > 1:  # MSc: every scale's logits and their max (DeepLab v2)
            for logits in out["scales"]:
                loss = loss + self.loss(logits, mask)
        if out["aux"] is not None:
            loss = loss + self.aux_loss_weight * self.loss(out["aux"], mask)
        return loss

    def configure_optimizers(self) -> Any:
        return self.optimization.configure(self.net, lambda: total_steps(self.trainer))

    # -- evaluation -----------------------------------------------------------------------
    def images_of(self, batch: dict[str, Any]) -> Tensor:
        """uint8 RGB images for the CRF's colour term, in the data's input space."""
        return image_of(batch, space_of(self._trainer))

    def _eval_step(self, stage: str, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        logits = self.predict_logits(batch["image"])
        loss = self.loss(logits, batch["mask"])
        preds = labels_of(logits)
        self.metrics[stage].update(preds, batch["mask"])
        if self.crf is not None and self._crf_now(stage):
            started = time.perf_counter()
            refined = self.crf(logits.float().softmax(dim=1), self.images_of(batch))
            self.metrics[f"{stage}_crf"].update(labels_of(refined), batch["mask"])
            spent = time.perf_counter() - started  # the job's time split (PhaseTimes)
            self.crf_seconds[stage] = self.crf_seconds.get(stage, 0.0) + spent
        self.log(names.loss(stage), loss, on_epoch=True, sync_dist=True, batch_size=len(preds))
        return {"preds": preds}  # for callbacks (W&B examples)

    def _eval_epoch_end(self, stage: str) -> None:
        values = {}
        with_crf = self.crf is not None and self._crf_now(stage)  # same on every rank
        for crf in (False, True) if with_crf else (False,):
            metric = self.metrics[f"{stage}_crf" if crf else stage]
            result = metric.compute()
            metric.reset()
            values[names.miou(stage, crf)] = result["mIoU"]
            values[names.pixel_acc(stage, crf)] = result["pixel_acc"]
            for name, iou in zip(self.class_names, result["IoU"]):  # a W&B section of its own
                values[names.class_iou(stage, name, crf)] = iou
        if stage == "val" and not self.trainer.sanity_checking:
            miou = float(values[names.miou("val")])
            if self.best_miou is None or miou > self.best_miou:
                self.best_miou = miou
            values[names.VAL_MIOU_BEST] = torch.tensor(self.best_miou)
        miou = values.pop(names.miou(stage))
        self.log_dict(values, sync_dist=True)
        self.log(names.miou(stage), miou, prog_bar=True, sync_dist=True)

    def _crf_now(self, stage: str) -> bool:
        """``crf_val: last`` keeps the CRF out of a training run's validations but the
        last epoch's (``val/mIoU_crf`` of the final model); test, seglab-eval and
        predict always apply it."""
        trainer = self._trainer
        if self.crf_val == "every" or stage != "val" or trainer is None:
            return True
        if trainer.state.fn != "fit":  # trainer.validate / seglab-eval
            return True
        if trainer.sanity_checking:
            return False
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            return trainer.current_epoch + 1 >= trainer.max_epochs
        return trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps

    def teardown(self, stage: str) -> None:
        close = getattr(self.crf, "close", None)
        if close is not None:  # DenseCRF's worker processes
            close()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        return self._eval_step("val", batch, batch_idx)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        return self._eval_step("test", batch, batch_idx)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Labels per pixel (with test-time augmentation and, when set, the CRF)."""
        probs = self.predict_logits(batch["image"]).float().softmax(dim=1)
        if self.crf is not None:
            probs = self.crf(probs, self.images_of(batch))
        confidence, labels = probs.max(dim=1)
        return {"labels": labels, "confidence": confidence, "name": batch["name"]}

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    # -- the epoch's mean training loss ----------------------------------------------------
    # kept by hand (a sum and a count) and saved in checkpoints: a run resumed mid-epoch
    # averages the batches trained before the stop too, as an uninterrupted run does
    _epoch_loss_sum: Tensor | float = 0.0
    _epoch_loss_count = 0
    _epoch_loss_epoch: int | None = None

    def on_train_epoch_start(self) -> None:
        if self._epoch_loss_epoch != self.current_epoch:  # not the epoch a checkpoint left
            self._epoch_loss_sum, self._epoch_loss_count = 0.0, 0
            self._epoch_loss_epoch = self.current_epoch

    def on_train_epoch_end(self) -> None:
        if self._epoch_loss_count:
            mean = torch.as_tensor(self._epoch_loss_sum / self._epoch_loss_count).float()
            self.log(names.TRAIN_LOSS_EPOCH, mean.to(self.device), sync_dist=True)

    # -- checkpoints ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the run's config is written beside it by the RunConfig callback
        checkpoint.setdefault("seglab", {})["best_miou"] = self.best_miou
        checkpoint["seglab"]["epoch_loss"] = {
            "epoch": self._epoch_loss_epoch,
            "sum": float(self._epoch_loss_sum),
            "count": self._epoch_loss_count,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.best_miou = checkpoint.get("seglab", {}).get("best_miou")
        saved = checkpoint.get("seglab", {}).get("epoch_loss")
        if saved:  # checkpoints from before this was kept start the epoch's sum afresh
            self._epoch_loss_epoch = saved["epoch"]
            self._epoch_loss_sum, self._epoch_loss_count = saved["sum"], saved["count"]
