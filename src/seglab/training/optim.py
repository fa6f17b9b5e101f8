"""A run's optimization, built from the model config and handed to the module
(``Optimization``): the optimizer over parameter groups, the schedule planned for the
run's length (and re-planned when a resumed run's length changed).

Per-parameter learning-rate and weight-decay multipliers (Caffe's ``lr_mult`` /
``decay_mult``), from a short list of rules in the model config.

A rule is ``{params: <glob or list of globs>, kind: any|weight|bias|norm, lr_mult,
decay_mult}``; parameter names are the network's (``head.fc.6.bias``,
``backbone.layer4.0.conv2.weight``); ``kind`` (one or a list) narrows a rule to biases,
normalisation layers' parameters or the remaining weights (``kind: [norm, bias],
decay_mult: 0``: weight decay on conv and linear weights only, as DeepLab v3). The first
rule that matches a parameter decides its multipliers; unmatched parameters get 1 and 1.
Frozen parameters (``requires_grad=False``: fixed FCN upsampling, frozen BN) are left out
of the optimizer.
Every group carries ``lr_mult`` and ``decay_mult``; schedulers scale every group's lr by
the same factor, so the ratios between groups hold for the whole run.
"""

from __future__ import annotations

import fnmatch
import inspect
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
from torch import nn

log = logging.getLogger(__name__)

KINDS = ("any", "weight", "bias", "norm")
_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def _kinds(net: nn.Module) -> dict[str, str]:
    """``weight`` / ``bias`` / ``norm`` for each parameter name of ``net``."""
    kinds = {}
    for module_name, module in net.named_modules():
        for name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            if isinstance(module, _NORM_TYPES):
                kinds[full] = "norm"
            else:
                kinds[full] = "bias" if name == "bias" else "weight"
    return kinds


def _check_rule(i: int, rule: Mapping[str, Any]) -> tuple[list[str], list[str], float, float]:
    unknown = set(rule) - {"params", "kind", "lr_mult", "decay_mult"}
    if unknown:
        raise ValueError(
            f"model.param_groups[{i}] has unknown keys {sorted(unknown)}; a rule takes "
            "params, kind, lr_mult, decay_mult"
        )
    patterns = rule.get("params", "*")
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    kind = rule.get("kind", "any")
    kinds = [kind] if isinstance(kind, str) else list(kind)
    if not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(
            f"model.param_groups[{i}].kind must be one of {KINDS} or a list of them, got {kind!r}"
        )
    return patterns, kinds, float(rule.get("lr_mult", 1.0)), float(rule.get("decay_mult", 1.0))


def param_groups(
    net: nn.Module, rules: Sequence[Mapping[str, Any]] | None, lr: float, weight_decay: float
) -> list[dict[str, Any]]:
    """Optimizer parameter groups of ``net``'s trainable parameters under ``rules``."""
    checked = [_check_rule(i, r) for i, r in enumerate(rules or [])]
    kinds = _kinds(net)
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    used = [0] * len(checked)
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        mults = (1.0, 1.0)
        for i, (patterns, rule_kinds, lr_mult, decay_mult) in enumerate(checked):
            if ("any" in rule_kinds or kinds[name] in rule_kinds) and any(
                fnmatch.fnmatchcase(name, g) for g in patterns
            ):
                mults, used[i] = (lr_mult, decay_mult), used[i] + 1
                break
        group = groups.setdefault(
            mults,
            {
                "params": [],
                "names": [],
                "lr": lr * mults[0],
                "weight_decay": weight_decay * mults[1],
                "lr_mult": mults[0],
                "decay_mult": mults[1],
            },
        )
        group["params"].append(p)
        group["names"].append(name)
    for i, n in enumerate(used):
        if n == 0:
            log.warning(
                "model.param_groups[%d] (%s) matches no trainable parameter of this network",
                i,
                dict(rules[i]),
            )
    return list(groups.values())


def group_summary(groups: Iterable[Mapping[str, Any]]) -> str:
    """One line per group: multipliers and parameter count, for the run's log."""
    return "; ".join(
        f"lr×{g['lr_mult']:g} decay×{g['decay_mult']:g}: {len(g['params'])} tensors" for g in groups
    )


def factory_default(factory: Callable[..., Any], name: str) -> Any:
    """A keyword of a Hydra partial (``lr``, ``weight_decay``), or the callee's default."""
    keywords = getattr(factory, "keywords", {}) or {}
    if name in keywords:
        return keywords[name]
    target = getattr(factory, "func", factory)
    try:
        param = inspect.signature(target).parameters.get(name)
    except (TypeError, ValueError):
        return None
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def total_steps(trainer: L.Trainer) -> int:
    """Optimizer steps of the whole run, for schedules that need it (poly).

    Not ``trainer.estimated_stepping_batches``: that builds and starts the training
    loader before a checkpoint is restored, so a mid-epoch resume would lose the
    loader's position. Counting from a fresh loader's length starts nothing."""
    epochs = trainer.max_epochs
    if trainer.max_steps > 0 and (epochs is None or epochs < 0):
        return trainer.max_steps  # the papers count iterations (max_epochs=-1)
    datamodule = trainer.datamodule
    if datamodule is None:
        return max(1, int(trainer.estimated_stepping_batches))
    per_epoch = len(datamodule.train_dataloader())
    limit = trainer.limit_train_batches
    per_epoch = min(per_epoch, limit) if isinstance(limit, int) else int(per_epoch * limit)
    steps = math.ceil(per_epoch / trainer.accumulate_grad_batches) * max(epochs or 1, 1)
    if trainer.max_steps > 0:
        steps = min(steps, trainer.max_steps)
    return max(1, steps)


class Optimization:
    """A run's optimizer and learning-rate schedule, from the model config's
    ``optimizer`` and ``scheduler`` (Hydra partials), ``param_groups`` (rules, above) and
    ``replan_schedule``.

    The scheduler is called with the optimizer and, when it takes ``total_iters`` /
    ``total_steps`` (torch's ``PolynomialLR``, DeepLab's "poly" policy; ``OneCycleLR``),
    the run's total optimizer steps, and ``OneCycleLR`` each group's lr as its peak; it
    steps every optimizer step."""

    def __init__(
        self,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        param_groups: Sequence[Mapping[str, Any]] | None = None,
        replan_schedule: bool = False,
    ) -> None:
        self.optimizer, self.scheduler = optimizer, scheduler
        self.rules = [dict(r) for r in param_groups or []]
        self.replan_schedule = replan_schedule

    def configure(self, net: nn.Module, steps: Callable[[], int]) -> Any:
        """What ``LightningModule.configure_optimizers`` returns; ``steps`` counts the
        run's optimizer steps (called only when the scheduler needs it)."""
        lr = factory_default(self.optimizer, "lr")
        decay = factory_default(self.optimizer, "weight_decay") or 0.0
        groups = param_groups(net, self.rules, lr, decay)
        if self.rules:
            log.info("parameter groups: %s", group_summary(groups))
        optimizer = self.optimizer(params=groups)
        if self.scheduler is None:
            return optimizer
        kwargs: dict[str, Any] = {}
        target = getattr(self.scheduler, "func", self.scheduler)
        accepted = inspect.signature(target).parameters
        given = getattr(self.scheduler, "keywords", {}) or {}
        for length in ("total_iters", "total_steps"):  # PolynomialLR, OneCycleLR
            if length in accepted and given.get(length) is None:
                kwargs[length] = steps()
        if "max_lr" in accepted and given.get("max_lr") is None:
            # OneCycleLR peaks at each group's own lr (lr x lr_mult), so multipliers hold
            kwargs["max_lr"] = [group["lr"] for group in optimizer.param_groups]
        scheduler = self.scheduler(optimizer, **kwargs)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def resumed(
        self, scheduler: Any, optimizer: torch.optim.Optimizer, planned: int, step: int
    ) -> str | None:
        """A resumed run whose length changed (``trainer.max_epochs`` / ``max_steps``)
        would silently keep the checkpoint's schedule (a poly decay that already reached
        0 stays at 0): the warning that says so, or with ``replan_schedule`` the schedule
        re-planned for the new length from ``step`` (and what was done)."""
        if step == 0 or not hasattr(scheduler, "total_iters"):
            return None
        restored = int(scheduler.total_iters)
        if planned == restored:
            return None
        if not self.replan_schedule:
            return (
                f"resumed at step {step} with a run length of {planned} steps, but "
                f"the checkpoint's schedule was planned for {restored}: it is kept (lr "
                f"{'is already' if step >= restored else 'reaches'} 0 at step {restored}). "
                "Set model.replan_schedule=true to re-plan it for the new length."
            )
        scheduler.total_iters = planned
        factor = (1.0 - min(step, planned) / planned) ** getattr(scheduler, "power", 1.0)
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
            group["lr"] = base * factor  # the poly value at this step of the new plan
        return (
            f"schedule re-planned for {planned} steps (was {restored}); at step "
            f"{step} the lr is now {factor:.4f} x its initial value (model.replan_schedule)"
        )
